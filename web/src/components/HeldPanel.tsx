// Every held call, newest first as in the list: what it is about (the user's last message, when
// it was held, its id), how long it may wait, Allow and Mock.
import { memo, useMemo } from 'react';
import type { FlowJSON } from '../api/types.gen';
import { clockTime, countdown, prettyArguments } from '../lib/format';
import { lastUserText, shorten } from '../lib/turns';
import { useNow } from '../stores/clock';
import { decide, useDecision } from '../stores/decisions';
import { useAnswerText, useFlowDetail } from '../stores/details';
import { JsonView } from './JsonView';
import type { Part } from './RequestView';

interface Props {
  held: readonly FlowJSON[];
  pause: string | null;
  pauseRequests: boolean;
  selectedId: string | null;
  onSelect: (id: string) => void;
  onMock: (id: string) => void;
}

export function HeldPanel({ held, pause, pauseRequests, selectedId, onSelect, onMock }: Props) {
  const ordered = useMemo(() => [...held].sort(newestFirst), [held]);
  return (
    <section
      className={`held-panel${held.length ? ' has-held' : ''}`}
      data-testid="held-panel"
      aria-label="Held calls"
    >
      <div className="held-head">
        <h2>
          Held <span className="count">{held.length}</span>
        </h2>
        <span className="muted">
          {held.length === 0
            ? `Nothing held · pause: ${pause ?? '…'}${pauseRequests ? ' + requests' : ''}`
            : 'Selected call: '}
          {held.length > 0 && (
            <>
              <kbd>a</kbd> allow · <kbd>m</kbd> mock · <kbd>↑</kbd>
              <kbd>↓</kbd> select
            </>
          )}
        </span>
      </div>
      {held.length > 0 && (
        <ul className="held-list">
          {ordered.map((flow) => (
            <HeldCall
              key={flow.id}
              flow={flow}
              selected={flow.id === selectedId}
              onSelect={onSelect}
              onMock={onMock}
            />
          ))}
        </ul>
      )}
    </section>
  );
}

interface CallProps {
  flow: FlowJSON;
  selected: boolean;
  onSelect: (id: string) => void;
  onMock: (id: string) => void;
}

const HeldCall = memo(function HeldCall({ flow, selected, onSelect, onMock }: CallProps) {
  const decision = useDecision(flow.id);
  const hold = flow.hold!;
  const requestStage = hold.stage === 'request';
  const names = flow.tool_calls.map((call) => call.name).join(', ');
  return (
    <li
      className={`held-call${selected ? ' selected' : ''}`}
      data-testid="held-call"
      data-flow-id={flow.id}
      aria-label={`Held call ${flow.id}`}
      onClick={() => onSelect(flow.id)}
    >
      <div className="held-call-head">
        <span className={`badge stage-${hold.stage}`}>{requestStage ? 'before sending' : 'answer'}</span>
        <strong className="ellipsis" title={names || flow.path}>
          {names || (requestStage ? flow.path : 'text answer')}
        </strong>
        <span className="muted ellipsis" title={`${flow.id} · ${flow.model ?? ''}`}>
          {flow.model}
        </span>
        <span className="spacer" />
        <Countdown deadline={hold.deadline} />
        <button
          type="button"
          className="primary"
          data-testid="allow-button"
          disabled={decision.pending}
          onClick={(event) => {
            event.stopPropagation();
            void decide(flow.id, { action: 'allow' });
          }}
        >
          Allow
        </button>
        {requestStage && (
          <button
            type="button"
            data-testid="tape-button"
            disabled={decision.pending}
            title="Answer from this request's tape"
            onClick={(event) => {
              event.stopPropagation();
              void decide(flow.id, { action: 'tape' });
            }}
          >
            Tape
          </button>
        )}
        <button
          type="button"
          data-testid="mock-button"
          disabled={decision.pending}
          onClick={(event) => {
            event.stopPropagation();
            onSelect(flow.id);
            onMock(flow.id);
          }}
        >
          Mock…
        </button>
      </div>
      <HeldContext flow={flow} />
      <HeldBody flow={flow} />
      {decision.error && (
        <p className="inline-error" role="alert">
          {decision.error}
        </p>
      )}
    </li>
  );
});

/** Calls in the list's order: the latest first (ids grow with each call of a run). */
function newestFirst(a: FlowJSON, b: FlowJSON): number {
  return b.started_at.localeCompare(a.started_at) || b.id.localeCompare(a.id);
}

const CONTEXT_CHARS = 140;

/** What the held call is about: the user's last message, when it was held, and its id. */
function HeldContext({ flow }: { flow: FlowJSON }) {
  const { detail } = useFlowDetail(flow.id);
  const message = detail ? lastUserText(detail.conversation) : null;
  const since = flow.hold!.since;
  return (
    <div className="held-context">
      {message !== null ? (
        <q className="held-message" title={message}>
          {shorten(message, CONTEXT_CHARS)}
        </q>
      ) : (
        <span className="muted">{detail ? 'No user message' : 'Loading…'}</span>
      )}
      <span className="held-meta muted">
        held at <time dateTime={since}>{clockTime(since).slice(0, 8)}</time> ·{' '}
        <span className="mono">{flow.id}</span>
      </span>
    </div>
  );
}

function HeldBody({ flow }: { flow: FlowJSON }) {
  if (flow.hold?.stage !== 'request' && flow.tool_calls.length > 0) {
    return (
      <div className="held-body">
        {flow.tool_calls.map((call, index) => (
          <div key={call.id || index} className="held-tool">
            {flow.tool_calls.length > 1 && <span className="tool-name">{call.name}</span>}
            <JsonView text={prettyArguments(call.arguments)} label={`Arguments of ${call.name}`} />
          </div>
        ))}
      </div>
    );
  }
  return <HeldDetail flow={flow} />;
}

/** A request-stage hold shows the last message; a text answer its text. Both need the detail. */
function HeldDetail({ flow }: { flow: FlowJSON }) {
  const { text, state } = useAnswerText(flow);
  if (!state.detail) return <p className="held-body muted">{state.error ?? 'Loading…'}</p>;
  if (flow.hold?.stage === 'request') {
    const turns = state.detail.conversation?.turns ?? [];
    const last = turns[turns.length - 1];
    if (!last) return <p className="held-body muted">Empty request</p>;
    // The user's message is already in the context line above.
    if (last.role === 'user' && last.parts.every((part) => part.kind === 'text')) return null;
    return (
      <div className="held-body">
        <span className={`role role-${last.role}`}>{last.role}</span>
        <pre className="held-text">{last.parts.map(partText).join('\n')}</pre>
      </div>
    );
  }
  return (
    <div className="held-body">
      <pre className="held-text">{text || '(no text)'}</pre>
    </div>
  );
}

function partText(part: Part): string {
  switch (part.kind) {
    case 'text':
      return part.text;
    case 'tool_call':
      return `${part.name}(${prettyArguments(part.arguments)})`;
    case 'tool_result':
      return typeof part.content === 'string' ? part.content : JSON.stringify(part.content);
    case 'image':
      return `[image ${part.source.slice(0, 60)}]`;
    case 'json':
      return JSON.stringify(part.value);
  }
}

export function Countdown({ deadline }: { deadline: string }) {
  const now = useNow();
  const left = Date.parse(deadline) - now;
  return (
    <span
      className={`countdown mono${left < 30_000 ? ' urgent' : ''}`}
      title={`Released as if allowed at ${new Date(deadline).toLocaleTimeString()}`}
      aria-label={`${countdown(left)} left`}
    >
      {countdown(left)}
    </span>
  );
}
