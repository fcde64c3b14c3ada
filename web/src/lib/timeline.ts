// The layout of a run's waterfall: one bar per call in start order, each split into where its
// time went, on a shared time axis; and lanes that pack calls running side by side.
import type { FlowJSON } from '../api/types.gen';

export type Phase = 'waiting' | 'held' | 'first_byte' | 'streaming' | 'running' | 'whole';

export const PHASES: { phase: Phase; label: string }[] = [
  { phase: 'waiting', label: 'waiting' },
  { phase: 'held', label: 'held' },
  { phase: 'first_byte', label: 'first byte' },
  { phase: 'streaming', label: 'streaming' },
  { phase: 'running', label: 'running' },
];

export interface Segment {
  phase: Phase;
  ms: number;
  /** Percent of the bar's own width. */
  width: number;
}

export interface Bar {
  flow: FlowJSON;
  /** Milliseconds from the run's first start. */
  start: number;
  end: number;
  running: boolean;
  /** Percent of the axis. */
  left: number;
  width: number;
  segments: Segment[];
  /** The lane of the packed overview: calls that overlap in time never share one. */
  lane: number;
  /** How many other calls ran at some moment of this one. */
  overlaps: number;
}

export interface Tick {
  /** Percent of the axis. */
  at: number;
  label: string;
}

export interface Layout {
  /** Epoch milliseconds of the first start. */
  origin: number;
  /** Milliseconds the axis covers. */
  span: number;
  bars: Bar[];
  lanes: number;
  ticks: Tick[];
}

function isRunning(flow: FlowJSON): boolean {
  return flow.state !== 'COMPLETE' && flow.state !== 'ERROR';
}

/** The segments of a call of `ms` milliseconds, in percent of its bar. */
export function segments(flow: FlowJSON, ms: number): Segment[] {
  if (isRunning(flow)) return [{ phase: flow.hold ? 'held' : 'running', ms, width: 100 }];
  const phases = flow.phases;
  if (!phases) return [{ phase: 'whole', ms, width: 100 }];
  const parts: [Phase, number][] = [
    ['waiting', phases.waiting_ms],
    ['held', phases.held_ms],
    ['first_byte', phases.first_byte_ms],
    ['streaming', phases.streaming_ms],
  ];
  const total = parts.reduce((sum, [, part]) => sum + Math.max(0, part), 0);
  if (total <= 0) return [{ phase: 'whole', ms, width: 100 }];
  return parts
    .filter(([, part]) => part > 0)
    .map(([phase, part]) => ({ phase, ms: part, width: (part / total) * 100 }));
}

/** A round step (1, 2 or 5 times a power of ten) that cuts `span` into about `wanted` parts. */
export function tickStep(span: number, wanted = 8): number {
  const raw = Math.max(span, 1) / wanted;
  const power = 10 ** Math.floor(Math.log10(raw));
  for (const factor of [1, 2, 5, 10]) if (power * factor >= raw) return power * factor;
  return power * 10;
}

/** An axis time: "0", "250 ms", "1.5 s", "2 m 30 s". */
export function tickLabel(ms: number): string {
  if (ms === 0) return '0';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${Number((ms / 1000).toFixed(2))} s`;
  const minutes = Math.floor(ms / 60_000);
  const seconds = Math.round((ms % 60_000) / 1000);
  return seconds ? `${minutes} m ${seconds} s` : `${minutes} m`;
}

/**
 * The waterfall of `flows` (in any order): bars in start order; a call still running ends at
 * `now` (epoch ms), so its bar grows as time passes.
 */
export function layoutTimeline(flows: readonly FlowJSON[], now: number): Layout {
  const timed = flows
    .map((flow) => {
      const started = Date.parse(flow.started_at);
      const running = isRunning(flow);
      const ms = running ? Math.max(0, now - started) : Math.max(0, flow.duration_ms ?? 0);
      return { flow, started, ms, running };
    })
    .filter((entry) => !Number.isNaN(entry.started))
    .sort((a, b) => a.started - b.started || a.flow.id.localeCompare(b.flow.id));
  if (timed.length === 0) return { origin: now, span: 0, bars: [], lanes: 0, ticks: [] };

  const origin = timed[0]!.started;
  const last = Math.max(...timed.map((entry) => entry.started + entry.ms));
  const span = Math.max(last - origin, 1);
  const laneEnds: number[] = [];
  const bars: Bar[] = timed.map(({ flow, started, ms, running }) => {
    const start = started - origin;
    const end = start + ms;
    let lane = laneEnds.findIndex((laneEnd) => laneEnd <= start);
    if (lane < 0) lane = laneEnds.length;
    laneEnds[lane] = end;
    return {
      flow,
      start,
      end,
      running,
      left: (start / span) * 100,
      width: (ms / span) * 100,
      segments: segments(flow, ms),
      lane,
      overlaps: 0,
    };
  });
  // Bars are in start order: the ones that overlap a bar and start after it come right after it.
  bars.forEach((bar, index) => {
    for (let next = index + 1; next < bars.length && bars[next]!.start < bar.end; next += 1) {
      bar.overlaps += 1;
      bars[next]!.overlaps += 1;
    }
  });

  const step = tickStep(span);
  const ticks: Tick[] = [];
  for (let index = 0; index * step <= span; index += 1) {
    const at = index * step;
    ticks.push({ at: (at / span) * 100, label: tickLabel(at) });
  }
  return { origin, span, bars, lanes: laneEnds.length, ticks };
}
