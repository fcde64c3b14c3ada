// What the compare view shows of a diff: each side's words with the changes marked, the
// differences of the figures, and the references that name the two sides.
import type { FloatPairJSON, FlowJSON, WordJSON } from '../api/types.gen';
import { cost, count, duration } from './format';

export type Side = 'a' | 'b';

/** A run of words of one side: unchanged, or only on that side (struck on A, added on B). */
export interface WordRun {
  mark: 'same' | 'removed' | 'added';
  text: string;
}

/**
 * The words side `side` shows: those both have and those only it has (removed on A, added on
 * B), neighbours of one kind joined into one run.
 */
export function wordRuns(words: readonly WordJSON[], side: Side): WordRun[] {
  const own = side === 'a' ? 'removed' : 'added';
  const runs: WordRun[] = [];
  for (const word of words) {
    if (word.op !== 'same' && word.op !== own) continue;
    const last = runs[runs.length - 1];
    if (last && last.mark === word.op) last.text += word.text;
    else runs.push({ mark: word.op, text: word.text });
  }
  return runs;
}

/** Whether the words have a change on side `side`. */
export function hasMarks(words: readonly WordJSON[], side: Side): boolean {
  return words.some((word) => word.op === (side === 'a' ? 'removed' : 'added'));
}

export type Figure = 'tokens' | 'usd' | 'ms';

/** A figure as the compare view shows it; "—" when it is not known. */
export function figure(value: number | null, kind: Figure): string {
  if (value === null) return '—';
  switch (kind) {
    case 'tokens':
      return count(value);
    case 'usd':
      return cost(value);
    case 'ms':
      return duration(value);
  }
}

/** B's figure less A's, signed ("+120 ms", "−3", "+$0.0012"); empty when one is unknown or they agree. */
export function difference(pair: FloatPairJSON, kind: Figure): string {
  if (pair.a === null || pair.b === null) return '';
  const delta = pair.b - pair.a;
  if (delta === 0) return '';
  const sign = delta > 0 ? '+' : '−';
  return `${sign}${figure(Math.abs(delta), kind)}`;
}

/** A JSON value in one short line, for a change that is not text. */
export function shortJson(value: unknown, limit = 120): string {
  if (value === undefined) return '';
  const text = JSON.stringify(value) ?? 'undefined';
  return text.length > limit ? `${text.slice(0, limit - 1)}…` : text;
}

/** A call that found no tape for its request (replay-only, or a resend to the tapes). */
export function isMiss(flow: FlowJSON): boolean {
  return flow.tape_use === 'missed';
}

export const TAPE_REF = 'tape:';

/** The reference of a tape's key. */
export function tapeRef(key: string): string {
  return `${TAPE_REF}${key}`;
}

/** The tape key a reference names, or null for a flow's id. */
export function tapeKeyOf(ref: string): string | null {
  return ref.startsWith(TAPE_REF) ? ref.slice(TAPE_REF.length) : null;
}

/** A reference as a person reads it: a flow's id as it is, a tape's key shortened. */
export function refLabel(ref: string): string {
  const key = tapeKeyOf(ref);
  if (key === null) return ref;
  const slash = key.lastIndexOf('/');
  const name = key.slice(slash + 1);
  return `tape ${key.slice(0, slash + 1)}${name.length > 14 ? `${name.slice(0, 12)}…` : name}`;
}
