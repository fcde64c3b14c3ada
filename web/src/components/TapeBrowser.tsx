// The tapes on disk: search, look at one (where its answer came from), resend it, delete it
// (after a confirmation).
import { useEffect, useRef, useState } from 'react';
import { api } from '../api/http';
import type { TapeJSON } from '../api/types.gen';
import { bytes, count, dateTime } from '../lib/format';
import { isShortcut } from '../lib/keyboard';
import { isFinished, live, type LiveState } from '../stores/live';
import { useStore } from '../stores/store';
import { tapeRef } from '../lib/compare';
import { StatusText } from './Badges';
import { OriginBadge } from './TapeOrigin';
import { TapeView } from './TapeView';

const SEARCH_DELAY_MS = 250;

interface Props {
  /** The tape selected at first. */
  initialKey?: string | null;
  /** A tape was resent as flow `b`: compare them (`a` is `tape:<key>`). */
  onCompare: (a: string, b: string) => void;
}

export function TapeBrowser({ initialKey = null, onCompare }: Props) {
  const [query, setQuery] = useState('');
  const [search, setSearch] = useState('');
  const [tapes, setTapes] = useState<TapeJSON[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [selected, setSelected] = useState<string | null>(initialKey);
  // Bumped to read the list again (Refresh, a deletion, new tapes).
  const [reads, setReads] = useState(0);
  const reload = () => setReads((value) => value + 1);

  useEffect(() => {
    const timer = window.setTimeout(() => setSearch(query), SEARCH_DELAY_MS);
    return () => window.clearTimeout(timer);
  }, [query]);

  useEffect(() => {
    let current = true;
    api.tapes(search).then(
      (list) => {
        if (!current) return;
        setTapes(list);
        setError(null);
      },
      (failure: Error) => current && setError(failure.message),
    );
    return () => {
      current = false;
    };
  }, [search, reads]);

  // New tapes appear as calls finish: the list is read again a second after the last one.
  const taped = useStore(live.state, tapedFlows);
  const lastTaped = useRef(taped);
  useEffect(() => {
    if (taped === lastTaped.current) return;
    lastTaped.current = taped;
    const timer = window.setTimeout(() => setReads((value) => value + 1), 1000);
    return () => window.clearTimeout(timer);
  }, [taped]);

  const keys = tapes?.map((tape) => tape.key) ?? [];
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
      setSelected(keys[Math.max(0, Math.min(keys.length - 1, index + step))] ?? null);
    }
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  });

  useEffect(() => {
    if (selected) document.getElementById(`tape-${selected}`)?.scrollIntoView({ block: 'nearest' });
  }, [selected]);

  return (
    <div className="split tapes">
      <section className="tape-list" aria-label="Tapes">
        <div className="toolbar">
          <input
            type="search"
            className="filter"
            placeholder="Search hash, model or request  ( / )"
            aria-label="Search tapes"
            data-testid="tape-search"
            value={query}
            onChange={(event) => setQuery(event.target.value)}
          />
          <button type="button" onClick={reload}>
            Refresh
          </button>
        </div>
        <div className="row tape-row row-head" aria-hidden="true">
          <span>recorded</span>
          <span>model</span>
          <span>endpoint</span>
          <span>folder</span>
          <span className="num">status</span>
          <span>kind</span>
          <span>origin</span>
          <span className="num">chunks</span>
          <span className="num">size</span>
          <span>tools</span>
        </div>
        <div
          className="rows"
          role="listbox"
          aria-label="Tapes, newest first"
          tabIndex={0}
          aria-activedescendant={selected ? `tape-${selected}` : undefined}
        >
          {error && (
            <p className="inline-error" role="alert">
              {error}
            </p>
          )}
          {tapes === null && !error && <p className="empty">Loading…</p>}
          {tapes?.length === 0 && <p className="empty">{search ? 'No tape matches.' : 'No tapes yet.'}</p>}
          {tapes?.map((tape) => (
            <TapeRow key={tape.key} tape={tape} selected={tape.key === selected} onSelect={setSelected} />
          ))}
        </div>
        <div className="list-foot muted">{tapes ? `${count(tapes.length)} tapes` : ''}</div>
      </section>
      {selected ? (
        <TapeView
          key={selected}
          tapeKey={selected}
          listed={tapes?.find((tape) => tape.key === selected)}
          known={(key) => keys.includes(key)}
          onSelect={setSelected}
          onResent={(id) => onCompare(tapeRef(selected), id)}
          onDeleted={() => {
            setSelected(null);
            reload();
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
