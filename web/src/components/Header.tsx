// Top bar: the views, the run picker, the picked run's summary and the connection.
import type { FlowJSON, RunJSON } from '../api/types.gen';
import { compact, cost, count } from '../lib/format';
import type { Connection } from '../stores/live';
import { RunPicker } from './RunPicker';

export type View = 'calls' | 'threads' | 'timeline' | 'tapes';

const VIEWS: { view: View; label: string }[] = [
  { view: 'calls', label: 'Calls' },
  { view: 'threads', label: 'Threads' },
  { view: 'timeline', label: 'Timeline' },
  { view: 'tapes', label: 'Tapes' },
];

interface Props {
  view: View;
  onView: (view: View) => void;
  flows: readonly FlowJSON[];
  runs: readonly RunJSON[] | null;
  /** The picked run: null for the live one. */
  run: RunJSON | null;
  past: boolean;
  onRun: (id: string | null) => void;
  connection: Connection;
  version: string | null;
  onHelp: () => void;
}

export function Header({ view, onView, flows, runs, run, past, onRun, connection, version, onHelp }: Props) {
  return (
    <header className="header">
      <span className="brand">
        <span className="brand-mark" aria-hidden="true" />
        playingpack
      </span>
      <nav className="views" aria-label="Views">
        {VIEWS.map(({ view: each, label }) => (
          <button
            key={each}
            type="button"
            className="view-tab"
            data-testid={`view-${each}`}
            aria-pressed={view === each}
            onClick={() => onView(each)}
          >
            {label}
          </button>
        ))}
      </nav>
      <RunPicker runs={runs} picked={run} past={past} onPick={onRun} />
      <Summary flows={flows} run={run} past={past} />
      <span className="spacer" />
      <button
        type="button"
        className="icon-button"
        aria-label="Keyboard shortcuts"
        title="Keyboard shortcuts (?)"
        onClick={onHelp}
      >
        ?
      </button>
      <span
        className={`connection connection-${connection}`}
        data-testid="connection"
        data-state={connection}
        role="status"
        title={version ? `playingpack ${version}` : undefined}
      >
        <span className="dot" aria-hidden="true" />
        {connection === 'open' ? 'Live' : 'Reconnecting…'}
      </span>
    </header>
  );
}

interface Totals {
  calls: number;
  tokens: number;
  cost: number | null;
  unpriced: number;
  saved: number | null;
}

/** The live window's totals, for a server that keeps no history (so lists no runs). */
function windowTotals(flows: readonly FlowJSON[]): Totals {
  const totals: Totals = { calls: flows.length, tokens: 0, cost: null, unpriced: 0, saved: null };
  for (const flow of flows) {
    totals.tokens += flow.usage?.total_tokens ?? 0;
    if (flow.cost !== null) totals.cost = (totals.cost ?? 0) + flow.cost;
    else if (flow.usage) totals.unpriced += 1;
    if (flow.saved !== null) totals.saved = (totals.saved ?? 0) + flow.saved;
  }
  return totals;
}

function runTotals(run: RunJSON): Totals {
  return {
    calls: run.calls,
    tokens: run.input_tokens + run.output_tokens,
    cost: run.cost,
    unpriced: run.unpriced,
    saved: run.saved,
  };
}

function Summary({ flows, run, past }: { flows: readonly FlowJSON[]; run: RunJSON | null; past: boolean }) {
  const totals = run ? runTotals(run) : windowTotals(flows);
  // Shown only when there are any: the held panel counts them all the time.
  const held = past ? 0 : flows.filter((flow) => flow.hold).length;
  const spent =
    totals.unpriced > 0
      ? `${cost(totals.cost)} for the priced calls; ${count(totals.unpriced)} ${totals.unpriced === 1 ? 'call' : 'calls'} of models with no known price`
      : `${cost(totals.cost)} spent upstream in this run`;
  return (
    <dl className="summary" aria-label="Run summary" data-testid="summary">
      <div>
        <dt>calls</dt>
        <dd>{count(totals.calls)}</dd>
      </div>
      <div title={`${count(totals.tokens)} tokens in this run`}>
        <dt>tokens</dt>
        <dd>{compact(totals.tokens)}</dd>
      </div>
      <div title={spent} data-testid="run-cost">
        <dt>cost</dt>
        <dd>
          {cost(totals.cost)}
          {totals.unpriced > 0 && <span className="muted unpriced"> +{count(totals.unpriced)} unpriced</span>}
        </dd>
      </div>
      <div title="What the calls answered from tapes would have cost upstream" data-testid="run-saved">
        <dt>saved by tapes</dt>
        <dd className="saved">{cost(totals.saved)}</dd>
      </div>
      {held > 0 && (
        <div>
          <dt>held</dt>
          <dd className="held-count">{count(held)}</dd>
        </div>
      )}
    </dl>
  );
}
