// How long a flow spent in each of its states.
import type { StateJSON } from '../api/types.gen';

export interface StateSpan {
  state: string;
  /** When the state began, in ms since the flow started. */
  at: number;
  /**
   * Time spent in the state: up to the next state, the last one up to the flow's end (or
   * `now` while it runs). Null for the final state of a finished flow, which has no length.
   */
  ms: number | null;
}

const FINAL = new Set(['COMPLETE', 'ERROR']);

// The server gives times to a tenth of a millisecond; a difference keeps that precision.
const tenth = (ms: number) => Math.round(Math.max(0, ms) * 10) / 10;

/**
 * Each state with the time spent in it. `durationMs` is the flow's duration (null while it
 * runs); `elapsedMs` is the time since it started, used for the current state of a running flow.
 */
export function stateSpans(
  history: readonly StateJSON[],
  durationMs: number | null,
  elapsedMs: number,
): StateSpan[] {
  return history.map((entry, index) => {
    const next = history[index + 1];
    if (next) return { state: entry.state, at: entry.ms, ms: tenth(next.ms - entry.ms) };
    if (durationMs !== null && FINAL.has(entry.state)) return { state: entry.state, at: entry.ms, ms: null };
    const end = durationMs ?? elapsedMs;
    return { state: entry.state, at: entry.ms, ms: tenth(end - entry.ms) };
  });
}
