// The tapes on disk: search, sort and page through them (the server does all three), look at
// one (where its answer came from), resend it, delete it (after a confirmation).
import { useEffect, useRef, useState, type UIEvent } from 'react';
import type { TapeQuery, TapeSort } from '../api/http';
import type { TapeJSON } from '../api/types.gen';
import { bytes, count, dateTime } from '../lib/format';
import { isShortcut } from '../lib/keyboard';
import { isFinished, live, type LiveState } from '../stores/live';
import { useStore } from '../stores/store';
import { sortedBy, TapeList, TAPE_PAGE_SIZE } from '../stores/tapes';
import { tapeRef } from '../lib/compare';
import { StatusText } from './Badges';
import { OriginBadge } from './TapeOrigin';
import { TapeView } from './TapeView';

const SEARCH_DELAY_MS = 250;
// The next page is read when the rows scrolled to come this close to the end.
const NEAR_END_PX = 200;

interface Props {
  /** The tape selected at first. */
  initialKey?: string | null;
  /** A tape was resent as flow `b`: compare them (`a` is `tape:<key>`). */
  onCompare: (a: string, b: string) => void;
}

export function TapeBrowser({ initialKey = null, onCompare }: Props) {
  const [query, setQuery] = useState('');
  const [search, setSearch] = useState('');
  const [order, setOrder] = useState<Pick<TapeQuery, 'sort' | 'order'>>({ sort: 'recorded', order: 'desc' });
  const [list] = useState(() => new TapeList());
  const { url, tapes, total, next, loading, error, indexing } = useStore(list.state);
  const [selected, setSelected] = useState<string | null>(initialKey);
  const rowsRef = useRef<HTMLDivElement>(null);

  useEffect(() => {
    const timer = window.setTimeout(() => setSearch(query), SEARCH_DELAY_MS);
    return () => window.clearTimeout(timer);
  }, [query]);

  useEffect(() => list.want({ q: search, ...order }), [list, search, order]);

  // Another search or order starts at the top of its list.
  useEffect(() => {
    if (rowsRef.current) rowsRef.current.scrollTop = 0;
  }, [url]);

  // New tapes appear as calls finish: the first page is read again a second after the last one.
  const taped = useStore(live.state, tapedFlows);
  const lastTaped = useRef(taped);
  useEffect(() => {
    if (taped === lastTaped.current) return;
    lastTaped.current = taped;
    const timer = window.setTimeout(() => list.refresh(), 1000);
    return () => window.clearTimeout(timer);
  }, [list, taped]);

  const keys = tapes.map((tape) => tape.key);
  useEffect(() => {
    function onKey(event: globalThis.KeyboardEvent): void {
      if (!isShortcut(event)) return;
      const step =
        event.key === 'ArrowDown' || event.key === 'j'
          ? 1
          : event.key === 'ArrowUp' || event.key === 'k'
            ? -1
            : 0;
      if (event.key === '/') {
        event.preventDefault();
        document.querySelector<HTMLInputElement>('[data-testid="tape-search"]')?.focus();
      }
      if (!step || keys.length === 0) return;
      event.preventDefault();
      const index = selected ? keys.indexOf(selected) : -1;
      // Stepping onto the last tape listed reads the next page.
      if (index + step >= keys.length - 1) list.more();
      setSelected(keys[Math.max(0, Math.min(keys.length - 1, index + step))] ?? null);
    }
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  });

  useEffect(() => {
    if (selected) document.getElementById(`tape-${selected}`)?.scrollIntoView({ block: 'nearest' });
  }, [selected]);

  const onScroll = (event: UIEvent<HTMLElement>) => {
    const element = event.currentTarget;
    if (element.scrollHeight - element.scrollTop - element.clientHeight < NEAR_END_PX) list.more();
  };

  const sortHead = (sort: TapeSort, label: string, numeric = false) => (
    <SortHead
      sort={sort}
      label={label}
      numeric={numeric}
      current={order}
      onSort={() => setOrder(sortedBy(order, sort))}
    />
  );

  return (
    <div className="split tapes">
      <section className="tape-list" aria-label="Tapes">
        <div className="toolbar">
          <input
            type="search"
            className="filter"
            placeholder="Search words of the messages, model, tools, hash  ( / )"
            aria-label="Search tapes"
            data-testid="tape-search"
            value={query}
            onChange={(event) => setQuery(event.target.value)}
          />
          <button type="button" onClick={() => list.reload()}>
            Refresh
          </button>
        </div>
        <div className="row tape-row row-head">
          {sortHead('recorded', 'recorded')}
          {sortHead('model', 'model')}
          {sortHead('endpoint', 'endpoint')}
          <span aria-hidden="true">folder</span>
          <span className="num" aria-hidden="true">
            status
          </span>
          <span aria-hidden="true">kind</span>
          <span aria-hidden="true">origin</span>
          {sortHead('chunks', 'chunks', true)}
          {sortHead('size', 'size', true)}
          <span aria-hidden="true">tools</span>
        </div>
        <div
          ref={rowsRef}
          className="rows"
          role="listbox"
          aria-label={`Tapes, ${orderLabel(order)}`}
          aria-busy={loading}
          tabIndex={0}
          onScroll={onScroll}
          aria-activedescendant={selected && keys.includes(selected) ? `tape-${selected}` : undefined}
        >
          {error && (
            <p className="inline-error" role="alert">
              {error}
            </p>
          )}
          {total === null && !error && <p className="empty">Loading…</p>}
          {total === 0 && tapes.length === 0 && (
            <p className="empty">{search.trim() ? 'No tape matches.' : 'No tapes yet.'}</p>
          )}
          {tapes.map((tape) => (
            <TapeRow key={tape.key} tape={tape} selected={tape.key === selected} onSelect={setSelected} />
          ))}
          {next && (
            <button
              type="button"
              className="link more-tapes"
              data-testid="tape-more"
              disabled={loading}
              onClick={() => list.more()}
            >
              {loading
                ? 'Loading…'
                : `Show ${count(Math.min(TAPE_PAGE_SIZE, (total ?? 0) - tapes.length))} more`}
            </button>
          )}
        </div>
        <div className="list-foot muted" data-testid="tape-count">
          {total === null
            ? ''
            : tapes.length >= total
              ? `${count(total)} ${total === 1 ? 'tape' : 'tapes'}`
              : `${count(tapes.length)} of ${count(total)} tapes`}
          {indexing && ' read so far: the tapes folder is being indexed'}
        </div>
      </section>
      {selected ? (
        <TapeView
          key={selected}
          tapeKey={selected}
          listed={tapes.find((tape) => tape.key === selected)}
          known={(key) => keys.includes(key)}
          onSelect={setSelected}
          onResent={(id) => onCompare(tapeRef(selected), id)}
          onDeleted={() => {
            list.drop(selected);
            setSelected(null);
          }}
        />
      ) : (
        <section className="detail empty-detail">
          <p className="empty">Select a tape to see its request and answer.</p>
        </section>
      )}
    </div>
  );
}

/** How the list is ordered, in words: "newest first", "by model, A to Z". */
export function orderLabel({ sort = 'recorded', order = 'desc' }: Pick<TapeQuery, 'sort' | 'order'>): string {
  const down = order === 'desc';
  switch (sort) {
    case 'recorded':
      return down ? 'newest first' : 'oldest first';
    case 'size':
      return down ? 'biggest first' : 'smallest first';
    case 'chunks':
      return down ? 'most chunks first' : 'fewest chunks first';
    default:
      return `by ${sort}, ${down ? 'Z to A' : 'A to Z'}`;
  }
}

/** A column head that orders the list by its column; a second click turns the order round. */
function SortHead({
  sort,
  label,
  numeric,
  current,
  onSort,
}: {
  sort: TapeSort;
  label: string;
  numeric: boolean;
  current: Pick<TapeQuery, 'sort' | 'order'>;
  onSort: () => void;
}) {
  const active = (current.sort ?? 'recorded') === sort;
  const arrow = active ? (current.order === 'asc' ? '▲' : '▼') : '';
  return (
    <span className={numeric ? 'num' : undefined}>
      <button
        type="button"
        className={`sort-head${active ? ' active' : ''}`}
        data-testid={`tape-sort-${sort}`}
        aria-pressed={active}
        title={active ? `Tapes ${orderLabel(current)}; click to turn round` : `Sort the tapes by ${label}`}
        onClick={onSort}
      >
        {label}
        {arrow && <span aria-hidden="true">{arrow}</span>}
      </button>
    </span>
  );
}

/** How many of the listed flows have finished with a tape. */
function tapedFlows({ flows }: LiveState): number {
  let count = 0;
  for (const flow of flows) if (flow.tape && isFinished(flow.state)) count += 1;
  return count;
}

function TapeRow({
  tape,
  selected,
  onSelect,
}: {
  tape: TapeJSON;
  selected: boolean;
  onSelect: (key: string) => void;
}) {
  const key = tape.key;
  const tools = tape.tool_calls.join(', ');
  return (
    <div
      id={`tape-${key}`}
      className={`row tape-row${selected ? ' selected' : ''}`}
      role="option"
      aria-selected={selected}
      data-testid="tape-row"
      data-tape-key={key}
      title={tape.hash}
      onClick={() => onSelect(key)}
    >
      <span className="mono muted">{dateTime(tape.timestamp)}</span>
      <span className="ellipsis" title={tape.model}>
        {tape.model}
      </span>
      <span className="ellipsis mono" title={tape.endpoint}>
        {tape.endpoint}
      </span>
      <span className="ellipsis" title={tape.scope ?? 'top folder'}>
        {tape.scope ?? <span className="muted">—</span>}
      </span>
      <span className="num">
        <StatusText status={tape.status} />
      </span>
      <span className="muted">{tape.streamed ? 'stream' : 'json'}</span>
      <span>
        <OriginBadge origin={tape.origin} />
      </span>
      <span className="num mono">{tape.chunks}</span>
      <span className="num mono">{bytes(tape.size)}</span>
      <span className="ellipsis tools" title={tools || undefined}>
        {tools}
      </span>
    </div>
  );
}
