// One tape: its request as a conversation and its answer (or the raw file), where its answer
// came from, and the buttons that resend or delete it.
import { useEffect, useState } from 'react';
import { api, type ReadableTape } from '../api/http';
import type { TapeJSON } from '../api/types.gen';
import { count, dateTime, prettyArguments } from '../lib/format';
import { StatusText } from './Badges';
import { JsonView } from './JsonView';
import { ConversationView, Toggle } from './RequestView';
import { Provenance, TapeResend } from './TapeOrigin';

interface ViewProps {
  tapeKey: string;
  /** The tape's row in the list, when it is listed. */
  listed: TapeJSON | undefined;
  /** Whether a key is in the list (a parent is linked only then). */
  known: (key: string) => boolean;
  onSelect: (key: string) => void;
  onResent: (id: string) => void;
  onDeleted: () => void;
}

export function TapeView({ tapeKey, listed, known, onSelect, onResent, onDeleted }: ViewProps) {
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
        {tape && (
          <TapeFacts tape={tape} tapeKey={tapeKey} listed={listed} known={known} onSelect={onSelect} />
        )}
        {tape && <TapeResend tapeKey={tapeKey} tape={tape} onResent={onResent} />}
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

function TapeFacts({
  tape,
  tapeKey,
  listed,
  known,
  onSelect,
}: {
  tape: ReadableTape;
  tapeKey: string;
  listed: TapeJSON | undefined;
  known: (key: string) => boolean;
  onSelect: (key: string) => void;
}) {
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
      <Provenance
        origin={listed?.origin ?? text(meta.origin) ?? 'recorded'}
        // A resend's answer kept for its original call is that call's tape: no link to itself.
        parent={nonSelf(listed?.parent ?? text(meta.parent), tapeKey)}
        kept={listed?.kept ?? text(meta.kept)}
        known={known}
        onSelect={onSelect}
      />
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

function nonSelf(parent: string | null, key: string): string | null {
  return parent === key ? null : parent;
}
