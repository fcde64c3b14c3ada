// The run's agent threads, and the picked one read as the conversation: the user's message,
// each model step with its text, reasoning and tool calls, each tool result under the call it
// answers, then the next step.
import { memo } from 'react';
import type { ThreadDetailJSON, ThreadJSON, ThreadStepJSON } from '../api/types.gen';
import { clockTime, compact, cost, count, duration } from '../lib/format';
import { threadItems, type ThreadItem, type ToolCallItem } from '../lib/thread';
import { useThread, useThreads } from '../stores/history';
import { SourceBadge, StatusText } from './Badges';
import { JsonView } from './JsonView';

interface Props {
  /** The picked run; null for the live one. */
  run: string | null;
  shown: boolean;
  selectedId: string | null;
  onSelect: (id: string) => void;
  onOpenCall: (id: string) => void;
}

export function ThreadView({ run, shown, selectedId, onSelect, onOpenCall }: Props) {
  const list = useThreads(run, shown);
  const threads = list.value ?? [];
  const picked = threads.some((thread) => thread.id === selectedId) ? selectedId : (threads[0]?.id ?? null);
  const detail = useThread(shown ? picked : null, run === null);
  return (
    <main className="split threads-view" hidden={!shown}>
      <section className="thread-list" aria-label="Threads">
        <div className="rows" role="listbox" aria-label="Threads, newest first">
          {threads.map((thread) => (
            <ThreadRow key={thread.id} thread={thread} selected={thread.id === picked} onSelect={onSelect} />
          ))}
          {threads.length === 0 && (
            <p className="empty" role={list.error ? 'alert' : undefined}>
              {list.error
                ? list.code === 'history_off'
                  ? list.error
                  : `Could not read the threads: ${list.error}`
                : list.loading
                  ? 'Loading…'
                  : 'No threads in this run yet. Calls that continue a conversation form one.'}
            </p>
          )}
        </div>
        <div className="list-foot muted">{`${count(threads.length)} threads`}</div>
      </section>
      {detail.value ? (
        <Conversation key={detail.value.id} thread={detail.value} onOpenCall={onOpenCall} />
      ) : (
        <section className="detail empty-detail" aria-label="Thread">
          <p className="empty">
            {detail.error ?? (picked ? 'Loading…' : 'Pick a thread to read it as a conversation.')}
          </p>
        </section>
      )}
    </main>
  );
}

const ThreadRow = memo(function ThreadRow({
  thread,
  selected,
  onSelect,
}: {
  thread: ThreadJSON;
  selected: boolean;
  onSelect: (id: string) => void;
}) {
  const tools = thread.tools.join(', ');
  const tokens = thread.input_tokens + thread.output_tokens;
  return (
    <div
      className={`thread-row${selected ? ' selected' : ''}`}
      role="option"
      aria-selected={selected}
      data-testid="thread-row"
      data-thread-id={thread.id}
      onClick={() => onSelect(thread.id)}
    >
      <span className="thread-title ellipsis" title={thread.first_message}>
        {thread.first_message || <span className="muted">(no user message)</span>}
      </span>
      <span className="thread-facts">
        <span className="mono muted">{clockTime(thread.started_at).slice(0, 8)}</span>
        <span>
          {thread.steps} {thread.steps === 1 ? 'step' : 'steps'}
        </span>
        {tools && (
          <span className="ellipsis tools" title={tools}>
            {tools}
          </span>
        )}
        <span className="spacer" />
        <span className="mono" title={`${count(tokens)} tokens`}>
          {compact(tokens)} tok
        </span>
        <span className="mono thread-cost">{cost(thread.cost)}</span>
        <span className="mono muted">{duration(thread.duration_ms)}</span>
      </span>
    </div>
  );
});

function Conversation({
  thread,
  onOpenCall,
}: {
  thread: ThreadDetailJSON;
  onOpenCall: (id: string) => void;
}) {
  const items = threadItems(thread);
  const tokens = thread.input_tokens + thread.output_tokens;
  return (
    <section className="detail thread" aria-label="Thread" data-testid="thread" data-thread-id={thread.id}>
      <div className="detail-head">
        <div className="detail-title">
          <span className="ellipsis" title={thread.first_message}>
            {thread.first_message || 'Thread'}
          </span>
        </div>
        <div className="facts">
          <span>
            {thread.steps} {thread.steps === 1 ? 'step' : 'steps'}
          </span>
          {thread.models.length > 0 && <span className="ellipsis">{thread.models.join(', ')}</span>}
          <span
            className="mono"
            title={`${count(thread.input_tokens)} in, ${count(thread.output_tokens)} out`}
          >
            {count(tokens)} tokens
          </span>
          <span className="mono" title="cost">
            {cost(thread.cost)}
          </span>
          <span className="mono">{duration(thread.duration_ms)}</span>
          <span className="muted">{clockTime(thread.started_at)}</span>
        </div>
      </div>
      <ol className="detail-body thread-items" aria-label="Conversation">
        {items.map((item, index) => (
          <ItemView key={index} item={item} onOpenCall={onOpenCall} />
        ))}
      </ol>
    </section>
  );
}

function ItemView({ item, onOpenCall }: { item: ThreadItem; onOpenCall: (id: string) => void }) {
  switch (item.kind) {
    case 'system':
      return (
        <li className="thread-item thread-system">
          <details>
            <summary>
              <span className="role role-system">system</span> System prompt
            </summary>
            <p className="text">{item.text}</p>
          </details>
        </li>
      );
    case 'message':
      return (
        <li className={`thread-item thread-message message-${item.role}`} data-testid="thread-message">
          <span className={`role role-${item.role}`}>
            {item.role}
            {item.name && <span className="muted"> · {item.name}</span>}
          </span>
          <p className="text">{item.text}</p>
        </li>
      );
    case 'tool_result':
      return (
        <li
          className="thread-item thread-result"
          data-testid="tool-result"
          data-call-id={item.callId ?? ''}
          aria-label={item.answers ? `Result of ${item.answers.name}` : 'Tool result'}
        >
          <div className="result-head">
            <span className="role role-tool">result</span>
            {item.answers ? (
              <span>
                of <span className="tool-name">{item.answers.name}</span>
                {item.answers.step !== null && <span className="muted"> from step {item.answers.step}</span>}
              </span>
            ) : (
              <span className="muted">of a tool call this thread did not make</span>
            )}
            {item.callId && <span className="mono muted ellipsis">{item.callId}</span>}
          </div>
          <pre className="text result-text">{item.content}</pre>
        </li>
      );
    case 'step':
      return <StepView item={item} onOpenCall={onOpenCall} />;
  }
}

function StepView({
  item: { number, step, text, reasoning, toolCalls },
  onOpenCall,
}: {
  item: Extract<ThreadItem, { kind: 'step' }>;
  onOpenCall: (id: string) => void;
}) {
  return (
    <li
      className={`thread-item thread-step${step.error ? ' failed' : ''}`}
      data-testid="thread-step"
      data-flow-id={step.flow}
    >
      <StepHead number={number} step={step} onOpenCall={onOpenCall} />
      {reasoning && (
        <details className="reasoning">
          <summary>Reasoning</summary>
          <p className="text">{reasoning}</p>
        </details>
      )}
      {text && <p className="text step-text">{text}</p>}
      {toolCalls.map((call, index) => (
        <ToolCallView key={call.id ?? index} call={call} />
      ))}
      {step.error && (
        <p className="inline-error" role="alert">
          {step.error}
        </p>
      )}
      {!text && !toolCalls.length && !step.error && !step.answer && <p className="muted">No answer yet.</p>}
    </li>
  );
}

function StepHead({
  number,
  step,
  onOpenCall,
}: {
  number: number;
  step: ThreadStepJSON;
  onOpenCall: (id: string) => void;
}) {
  const usage = step.usage;
  return (
    <div className="step-head">
      <span className="role role-assistant">assistant</span>
      <span className="muted">step {number}</span>
      {step.retry_of && <span className="retry">retry</span>}
      {step.model && <span className="ellipsis step-model">{step.model}</span>}
      <SourceBadge source={step.source} />
      {step.status !== null && step.status >= 400 && <StatusText status={step.status} />}
      {usage && (
        <span className="mono" title={`${count(usage.input_tokens)} in, ${count(usage.output_tokens)} out`}>
          {count(usage.total_tokens)} tokens
        </span>
      )}
      <span className="mono step-cost" title="cost">
        {cost(step.cost)}
      </span>
      {step.duration_ms !== null && <span className="mono">{duration(step.duration_ms)}</span>}
      <span className="spacer" />
      <button
        type="button"
        className="link-button open-call"
        aria-label={`Open call ${step.flow}`}
        onClick={() => onOpenCall(step.flow)}
      >
        Open call →
      </button>
    </div>
  );
}

function ToolCallView({ call }: { call: ToolCallItem }) {
  return (
    <div className="tool-call" data-testid="tool-call" data-call-id={call.id ?? ''}>
      <div className="tool-call-head">
        <span className="muted">calls</span> <span className="tool-name">{call.name}</span>
        {call.id && <span className="mono muted"> {call.id}</span>}
      </div>
      <JsonView text={call.arguments} label={`Arguments of ${call.name}`} />
    </div>
  );
}
