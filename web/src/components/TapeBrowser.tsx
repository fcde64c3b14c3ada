// The tapes on disk: search, look at one, delete it (after a confirmation).
import { useCallback, useEffect, useRef, useState } from 'react';
import { api } from '../api/http';
import type { TapeJSON } from '../api/types.gen';
import { bytes, count, dateTime } from '../lib/format';
import { isShortcut } from '../lib/keyboard';
import { isFinished, live } from '../stores/live';
import { StatusText } from './Badges';
import { JsonView } from './JsonView';

const SEARCH_DELAY_MS = 250;

export function TapeBrowser() {
  const [query, setQuery] = useState('');
  const [search, setSearch] = useState('');
  const [tapes, setTapes] = useState<TapeJSON[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [selected, setSelected] = useState<string | null>(null);
  const generation = useRef(0);

  const load = useCallback(async (q: string) => {
    const mine = ++generation.current;
    try {
      const list = await api.tapes(q);
      if (mine !== generation.current) return;
      setTapes(list);
      setError(null);
    } catch (failure) {
      if (mine === generation.current) setError((failure as Error).message);
    }
  }, []);

  useEffect(() => {
    const timer = window.setTimeout(() => setSearch(query), SEARCH_DELAY_MS);
    return () => window.clearTimeout(timer);
  }, [query]);

  useEffect(() => {
    void load(search);
  }, [load, search]);

  // New tapes appear as calls finish.
  useEffect(() => {
    let timer: number | undefined;
    const stop = live.onFlow((flow) => {
      if (!isFinished(flow.state) || !flow.tape) return;
      window.clearTimeout(timer);
      timer = window.setTimeout(() => void load(search), 1000);
    });
    return () => {
      stop();
      window.clearTimeout(timer);
    };
  }, [load, search]);

  const ids = tapes?.map(tapeId) ?? [];
  useEffect(() => {
    function onKey(event: globalThis.KeyboardEvent): void {
      if (!isShortcut(event)) return;
      const step = event.key === 'ArrowDown' || event.key === 'j' ? 1 : event.key === 'ArrowUp' || event.key === 'k' ? -1 : 0;
      if (event.key === '/') {
        event.preventDefault();
        document.querySelector<HTMLInputElement>('[data-testid="tape-search"]')?.focus();
      }
      if (!step || ids.length === 0) return;
      event.preventDefault();
      const index = selected ? ids.indexOf(selected) : -1;
      setSelected(ids[Math.max(0, Math.min(ids.length - 1, index + step))] ?? null);
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
          <button type="button" onClick={() => void load(search)}>Refresh</button>
        </div>
        <div className="row tape-row row-head" aria-hidden="true">
          <span>recorded</span>
          <span>model</span>
          <span>endpoint</span>
          <span>folder</span>
          <span className="num">status</span>
          <span>kind</span>
          <span className="num">chunks</span>
          <span className="num">size</span>
          <span>tools</span>
        </div>
        <div className="rows" role="listbox" aria-label="Tapes, newest first" tabIndex={0} aria-activedescendant={selected ? `tape-${selected}` : undefined}>
          {error && <p className="inline-error" role="alert">{error}</p>}
          {tapes === null && !error && <p className="empty">Loading…</p>}
          {tapes?.length === 0 && <p className="empty">{search ? 'No tape matches.' : 'No tapes yet.'}</p>}
          {tapes?.map((tape) => (
            <TapeRow key={tapeId(tape)} tape={tape} selected={tapeId(tape) === selected} onSelect={setSelected} />
          ))}
        </div>
        <div className="list-foot muted">{tapes ? `${count(tapes.length)} tapes` : ''}</div>
      </section>
      {selected ? (
        <TapeView
          key={selected}
          id={selected}
          onDeleted={() => {
            setSelected(null);
            void load(search);
          }}
        />
      ) : (
        <section className="detail empty-detail"><p className="empty">Select a tape to see its request and answer.</p></section>
      )}
    </div>
  );
}

/** Until every server sends `id`, a tape's hash is its id. */
const tapeId = (tape: TapeJSON) => tape.id ?? tape.hash;

function TapeRow({ tape, selected, onSelect }: { tape: TapeJSON; selected: boolean; onSelect(id: string): void }) {
  const id = tapeId(tape);
  const tools = tape.tool_calls.join(', ');
  return (
    <div
      id={`tape-${id}`}
      className={`row tape-row${selected ? ' selected' : ''}`}
      role="option"
      aria-selected={selected}
      data-testid="tape-row"
      data-tape-id={id}
      title={tape.hash}
      onClick={() => onSelect(id)}
    >
      <span className="mono muted">{dateTime(tape.timestamp)}</span>
      <span className="ellipsis" title={tape.model}>{tape.model}</span>
      <span className="ellipsis mono" title={tape.endpoint}>{tape.endpoint}</span>
      <span className="ellipsis" title={tape.scope ?? 'top folder'}>{tape.scope ?? <span className="muted">—</span>}</span>
      <span className="num"><StatusText status={tape.status} /></span>
      <span className="muted">{tape.streamed ? 'stream' : 'json'}</span>
      <span className="num mono">{tape.chunks}</span>
      <span className="num mono">{bytes(tape.size)}</span>
      <span className="ellipsis tools" title={tools || undefined}>{tools}</span>
    </div>
  );
}

function TapeView({ id, onDeleted }: { id: string; onDeleted(): void }) {
  const [tape, setTape] = useState<unknown>(undefined);
  const [error, setError] = useState<string | null>(null);
  const [confirming, setConfirming] = useState(false);
  const [deleting, setDeleting] = useState(false);

  useEffect(() => {
    let current = true;
    api.tape(id).then(
      (value) => current && setTape(value),
      (failure: Error) => current && setError(failure.message),
    );
    return () => {
      current = false;
    };
  }, [id]);

  async function remove(): Promise<void> {
    setDeleting(true);
    try {
      await api.deleteTape(id);
      onDeleted();
    } catch (failure) {
      setError((failure as Error).message);
      setDeleting(false);
      setConfirming(false);
    }
  }

  return (
    <section className="detail" aria-label="Tape">
      <div className="detail-head">
        <div className="detail-title">
          <span className="method">tape</span>
          <span className="mono ellipsis" title={id}>{id}</span>
          <span className="spacer" />
          {!confirming && (
            <button type="button" className="danger" data-testid="tape-delete" onClick={() => setConfirming(true)}>
              Delete…
            </button>
          )}
        </div>
        {confirming && (
          <div className="confirm" role="alertdialog" aria-label="Delete this tape?">
            <span>Delete this tape file? The next identical request goes to the upstream again.</span>
            <span className="spacer" />
            <button type="button" onClick={() => setConfirming(false)} autoFocus>Cancel</button>
            <button type="button" className="danger" data-testid="tape-delete-confirm" disabled={deleting} onClick={() => void remove()}>
              Delete
            </button>
          </div>
        )}
      </div>
      <div className="detail-body">
        {error && <p className="inline-error" role="alert">{error}</p>}
        {tape === undefined && !error && <p className="empty">Loading…</p>}
        {tape !== undefined && <JsonView value={tape} testId="tape-view" label="Tape JSON" />}
      </div>
    </section>
  );
}
