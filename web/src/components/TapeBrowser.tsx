// The tapes on disk: search, look at one, delete it (after a confirmation).
import { useEffect, useRef, useState } from 'react';
import { api, type ReadableTape } from '../api/http';
import type { TapeJSON } from '../api/types.gen';
import { bytes, count, dateTime, prettyArguments } from '../lib/format';
import { isShortcut } from '../lib/keyboard';
import { isFinished, live, type LiveState } from '../stores/live';
import { useStore } from '../stores/store';
import { StatusText } from './Badges';
import { JsonView } from './JsonView';
import { ConversationView, Toggle } from './RequestView';

const SEARCH_DELAY_MS = 250;

export function TapeBrowser() {
  const [query, setQuery] = useState('');
  const [search, setSearch] = useState('');
  const [tapes, setTapes] = useState<TapeJSON[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [selected, setSelected] = useState<string | null>(null);
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
      <span className="num mono">{tape.chunks}</span>
      <span className="num mono">{bytes(tape.size)}</span>
      <span className="ellipsis tools" title={tools || undefined}>
        {tools}
      </span>
    </div>
  );
}

function TapeView({ tapeKey, onDeleted }: { tapeKey: string; onDeleted: () => void }) {
  const [tape, setTape] = useState<ReadableTape | undefined>(undefined);
  const [error, setError] = useState<string | null>(null);
  const [raw, setRaw] = useState(false);
  const [confirming, setConfirming] = useState(false);
  const [deleting, setDeleting] = useState(false);

  useEffect(() => {
    let current = true;
    api.readableTape(tapeKey).then(
      (value) => current && setTape(value),
      (failure: Error) => current && setError(failure.message),
    );
    return () => {
      current = false;
    };
  }, [tapeKey]);

  async function remove(): Promise<void> {
    setDeleting(true);
    try {
      await api.deleteTape(tapeKey);
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
          <span className="mono ellipsis" title={tapeKey}>
            {tapeKey}
          </span>
          <span className="spacer" />
          {!confirming && (
            <button
              type="button"
              className="danger"
              data-testid="tape-delete"
              onClick={() => setConfirming(true)}
            >
              Delete…
            </button>
          )}
        </div>
        {confirming && (
          <div className="confirm" role="alertdialog" aria-label="Delete this tape?">
            <span>Delete this tape file? The next identical request goes to the upstream again.</span>
            <span className="spacer" />
            <button type="button" onClick={() => setConfirming(false)} autoFocus>
              Cancel
            </button>
            <button
              type="button"
              className="danger"
              data-testid="tape-delete-confirm"
              disabled={deleting}
              onClick={() => void remove()}
            >
              Delete
            </button>
          </div>
        )}
        {tape && <TapeFacts tape={tape} />}
      </div>
      <div className="detail-body">
        {error && (
          <p className="inline-error" role="alert">
            {error}
          </p>
        )}
        {tape === undefined && !error && <p className="empty">Loading…</p>}
        {tape !== undefined && (
          <>
            <Toggle raw={raw} onRaw={setRaw} />
            {raw ? (
              <JsonView value={fileOf(tape)} testId="tape-view" label="Tape JSON" />
            ) : (
              <ReadableTapeView tape={tape} />
            )}
          </>
        )}
      </div>
    </section>
  );
}

/** The tape file as stored: without the fields the server added to read it. */
function fileOf(tape: ReadableTape): Record<string, unknown> {
  const file: Record<string, unknown> = { ...tape };
  delete file.conversation;
  delete file.answer;
  return file;
}

function part(tape: ReadableTape, name: string): Record<string, unknown> {
  const value = tape[name];
  return value && typeof value === 'object' ? (value as Record<string, unknown>) : {};
}

function TapeFacts({ tape }: { tape: ReadableTape }) {
  const meta = part(tape, 'meta');
  const answer = part(tape, 'response');
  const text = (value: unknown) => (typeof value === 'string' && value ? value : null);
  const model = text(meta.model) ?? text(tape.conversation?.params.find(([key]) => key === 'model')?.[1]);
  const recorded = text(meta.timestamp);
  const status = typeof answer.status === 'number' ? answer.status : null;
  const chunks = Array.isArray(answer.chunks) ? answer.chunks.length : 0;
  // Tapes of the original tool have no `streamed`: one chunk is a JSON answer.
  const streamed = typeof answer.streamed === 'boolean' ? answer.streamed : chunks > 1;
  return (
    <div className="facts">
      {model && <span title="model">{model}</span>}
      {text(meta.endpoint) && <span className="mono">{text(meta.endpoint)}</span>}
      <StatusText status={status} />
      <span className="muted">
        {streamed ? `stream · ${count(chunks)} chunk${chunks === 1 ? '' : 's'}` : 'json'}
      </span>
      {recorded && <span className="muted">recorded {dateTime(recorded)}</span>}
    </div>
  );
}

/** The tape as a conversation: the request's turns, then the answer's text and tool calls. */
function ReadableTapeView({ tape }: { tape: ReadableTape }) {
  const { conversation, answer } = tape;
  return (
    <div className="tape-readable" data-testid="tape-view">
      <section aria-label="Request">
        <h3>Request</h3>
        {conversation ? (
          <ConversationView conversation={conversation} />
        ) : (
          <p className="muted">This endpoint is not read as a conversation: see the raw JSON.</p>
        )}
      </section>
      <section aria-label="Answer" className="tape-answer">
        <h3>Answer</h3>
        {answer === null ? (
          <p className="muted">The answer cannot be read as text: see the raw JSON.</p>
        ) : (
          <>
            {answer.text ? (
              <pre className="answer-text">{answer.text}</pre>
            ) : (
              <p className="muted">No text{answer.tool_calls.length ? ' (the answer is tool calls)' : ''}.</p>
            )}
            {answer.tool_calls.map((call, index) => (
              <div key={call.id || index} className="tool-call">
                <span className="tool-name">{call.name}</span>
                {call.id && <span className="muted mono"> {call.id}</span>}
                <JsonView text={prettyArguments(call.arguments)} label={`Arguments of ${call.name}`} />
              </div>
            ))}
          </>
        )}
      </section>
    </div>
  );
}
