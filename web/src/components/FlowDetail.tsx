// The selected call: what it is, its states over time, and its request, answer, chunks, headers.
import { useRef, type KeyboardEvent } from 'react';
import type { FlowDetailJSON, FlowJSON, StateJSON } from '../api/types.gen';
import { cost, duration, stateLabel } from '../lib/format';
import { stateSpans, type StateSpan } from '../lib/spans';
import { useNow } from '../stores/clock';
import { decide, useDecision } from '../stores/decisions';
import { useAnswerText } from '../stores/details';
import { AnswerView } from './AnswerView';
import { SourceBadge, StateBadge, StatusText } from './Badges';
import { ActionBar, Lineage, type CallActions } from './CallActions';
import { ChunksView, HeadersView } from './ChunksView';
import { Countdown } from './HeldPanel';
import { RequestView } from './RequestView';

export type Tab = 'Request' | 'Answer' | 'Chunks' | 'Headers';
const TABS: Tab[] = ['Request', 'Answer', 'Chunks', 'Headers'];

interface Props {
  flow: FlowJSON;
  tab: Tab;
  onTab: (tab: Tab) => void;
  onMock: (id: string) => void;
  actions: CallActions;
}

export function FlowDetail({ flow, tab, onTab, onMock, actions }: Props) {
  const { text, state } = useAnswerText(flow);
  const detail = state.detail;
  const tabs = useRef<(HTMLButtonElement | null)[]>([]);

  function onTabKey(event: KeyboardEvent): void {
    const step = event.key === 'ArrowRight' ? 1 : event.key === 'ArrowLeft' ? -1 : 0;
    if (!step) return;
    event.preventDefault();
    const next = TABS[(TABS.indexOf(tab) + step + TABS.length) % TABS.length]!;
    onTab(next);
    tabs.current[TABS.indexOf(next)]?.focus();
  }

  return (
    <section className="detail" data-testid="detail" data-flow-id={flow.id} aria-label="Call detail">
      <div className="detail-head">
        <div className="detail-title">
          <span className="method">{flow.method}</span>
          <span className="ellipsis mono" title={flow.path}>
            {flow.scope && <span className="scope">/t/{flow.scope}</span>}
            {flow.path}
          </span>
          <span className="spacer" />
          <ActionBar flow={flow} actions={actions} />
        </div>
        <div className="facts">
          <StateBadge state={flow.state} held={flow.hold !== null} />
          <SourceBadge source={flow.source} />
          <StatusText status={flow.status} />
          {flow.model && (
            <span className="ellipsis" title="model">
              {flow.model}
            </span>
          )}
          {flow.duration_ms !== null && <span className="mono">{duration(flow.duration_ms)}</span>}
          <CostFact flow={flow} />
          <span className="muted">{flow.streamed ? 'stream' : 'json'}</span>
          {flow.decision && <span className="muted">decision: {flow.decision}</span>}
          <span className="muted mono ellipsis" title={`flow ${flow.id}`}>
            {flow.id}
          </span>
          {flow.tape && (
            <span className="muted mono" title={`tape key ${flow.tape}`}>
              tape {flow.tape.slice(0, 10)}
            </span>
          )}
        </div>
        {flow.hold && <HoldBar flow={flow} onMock={onMock} />}
        {detail && <StateChips flow={flow} history={detail.history} />}
        <Lineage flow={flow} actions={actions} />
      </div>
      <div className="tabs" role="tablist" aria-label="Call detail">
        {TABS.map((name, index) => (
          <button
            key={name}
            ref={(element) => {
              tabs.current[index] = element;
            }}
            type="button"
            role="tab"
            aria-label={name}
            id={`tab-${name}`}
            aria-selected={tab === name}
            aria-controls="detail-panel"
            tabIndex={tab === name ? 0 : -1}
            onClick={() => onTab(name)}
            onKeyDown={onTabKey}
          >
            {name}
            {name === 'Chunks' && detail ? <span className="count">{detail.chunks.length}</span> : null}
          </button>
        ))}
      </div>
      <div className="detail-body" id="detail-panel" role="tabpanel" aria-labelledby={`tab-${tab}`}>
        {state.error && (
          <p className="inline-error" role="alert">
            {state.error}
          </p>
        )}
        {!detail && !state.error && <p className="empty">Loading…</p>}
        {detail && <TabBody tab={tab} flow={flow} detail={detail} text={text} />}
      </div>
    </section>
  );
}

function TabBody({
  tab,
  flow,
  detail,
  text,
}: {
  tab: Tab;
  flow: FlowJSON;
  detail: FlowDetailJSON;
  text: string;
}) {
  switch (tab) {
    case 'Request':
      return <RequestView body={detail.request} conversation={detail.conversation} />;
    case 'Answer':
      return <AnswerView flow={flow} detail={detail} text={text} />;
    case 'Chunks':
      return <ChunksView chunks={detail.chunks} />;
    case 'Headers':
      return <HeadersView detail={detail} />;
  }
}

function HoldBar({ flow, onMock }: { flow: FlowJSON; onMock: (id: string) => void }) {
  const decision = useDecision(flow.id);
  const hold = flow.hold!;
  return (
    <div className="hold-bar" role="status">
      <span>
        Held {hold.stage === 'request' ? 'before sending' : 'with its answer'} ·{' '}
        <Countdown deadline={hold.deadline} /> left
      </span>
      <span className="spacer" />
      <button
        type="button"
        className="primary"
        disabled={decision.pending}
        onClick={() => void decide(flow.id, { action: 'allow' })}
      >
        Allow <kbd>a</kbd>
      </button>
      <button type="button" disabled={decision.pending} onClick={() => onMock(flow.id)}>
        Mock… <kbd>m</kbd>
      </button>
      {decision.error && <span className="inline-error">{decision.error}</span>}
    </div>
  );
}

/** The states the flow went through, each with the time spent in it. */
function StateChips({ flow, history }: { flow: FlowJSON; history: StateJSON[] }) {
  if (history.length === 0) return null;
  return flow.duration_ms === null ? (
    <RunningChips flow={flow} history={history} />
  ) : (
    <Chips spans={stateSpans(history, flow.duration_ms, flow.duration_ms)} total={flow.duration_ms} />
  );
}

/** A running flow's current state grows with the clock. */
function RunningChips({ flow, history }: { flow: FlowJSON; history: StateJSON[] }) {
  const now = useNow();
  const elapsed = Math.max(0, now - Date.parse(flow.started_at));
  return <Chips spans={stateSpans(history, null, elapsed)} total={null} />;
}

function Chips({ spans, total }: { spans: StateSpan[]; total: number | null }) {
  return (
    <ol className="state-chips" aria-label="Time in each state">
      {spans.map((span, index) => (
        <li
          key={index}
          className={`state-${span.state.toLowerCase()}`}
          title={`${stateLabel(span.state)} began ${ms(span.at)} after the start`}
        >
          <span className="chip-state">{stateLabel(span.state)}</span>
          {span.ms !== null ? (
            <span className="mono muted">{ms(span.ms)}</span>
          ) : (
            total !== null && <span className="mono muted">{ms(total)} total</span>
          )}
        </li>
      ))}
    </ol>
  );
}

function ms(value: number): string {
  return value < 1000 ? `${value.toFixed(value < 10 ? 1 : 0)} ms` : duration(value);
}

/** What the call cost; for a tape, what it saved (what the upstream would have charged). */
function CostFact({ flow }: { flow: FlowJSON }) {
  if (flow.duration_ms === null) return null;
  return (
    <span className="cost-fact" title="In USD; — when the model's price is unknown">
      cost <b className="mono">{cost(flow.cost)}</b>
      {flow.source === 'tape' && (
        <>
          {' '}
          · saved <b className="mono saved">{cost(flow.saved)}</b>
        </>
      )}
    </span>
  );
}
