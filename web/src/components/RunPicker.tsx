// Which run the views show: the live one (this server's, first and picked by default) or a past
// one from the history, read-only, with a way back.
import type { RunJSON } from '../api/types.gen';
import { cost, count, dateTime } from '../lib/format';

interface Props {
  /** Every run, newest first; null while unknown or when the server keeps no history. */
  runs: readonly RunJSON[] | null;
  picked: RunJSON | null;
  past: boolean;
  onPick: (id: string | null) => void;
}

/** The live run first, then the others newest first. */
function runOrder(runs: readonly RunJSON[]): RunJSON[] {
  return [...runs.filter((run) => run.live), ...runs.filter((run) => !run.live)];
}

/** A run as the picker lists it: what started it and when, its calls and its cost. */
function runLabel(run: RunJSON): string {
  const calls = `${count(run.calls)} ${run.calls === 1 ? 'call' : 'calls'}`;
  const head = run.live ? `Live: ${run.label}` : `${dateTime(run.started_at).slice(0, 16)} · ${run.label}`;
  return `${head} · ${calls} · ${cost(run.cost)}`;
}

export function RunPicker({ runs, picked, past, onPick }: Props) {
  const ordered = runs ? runOrder(runs) : [];
  return (
    <label className={`field run-picker${past ? ' past' : ''}`}>
      <select
        data-testid="run-picker"
        aria-label="Run"
        value={past && picked ? picked.id : ''}
        disabled={ordered.length === 0}
        title={picked ? runLabel(picked) : 'The live run'}
        onChange={(event) => {
          const id = event.target.value;
          onPick(ordered.find((run) => run.id === id && !run.live) ? id : null);
        }}
      >
        {!ordered.some((run) => run.live) && <option value="">Live run</option>}
        {ordered.map((run) => (
          <option key={run.id} value={run.live ? '' : run.id}>
            {runLabel(run)}
          </option>
        ))}
      </select>
    </label>
  );
}

/** Says that a past run is shown (nothing live, nothing to change), with the way back. */
export function PastRunNotice({ run, onLive }: { run: RunJSON | null; onLive: () => void }) {
  return (
    <span className="past-run" role="status" data-testid="past-run">
      <span className="past-badge">past run · read-only</span>
      {run && (
        <span className="ellipsis muted" title={runLabel(run)}>
          {run.label}, {dateTime(run.started_at)}
          {run.ended_at ? ` to ${dateTime(run.ended_at).slice(11)}` : ''}
        </span>
      )}
      <button type="button" data-testid="back-to-live" onClick={onLive}>
        Back to live
      </button>
    </span>
  );
}
