import { describe, expect, it } from 'vitest';
import type { FlowJSON, PhasesJSON } from '../api/types.gen';
import { layoutTimeline, segments, tickLabel, tickStep } from './timeline';

const T0 = Date.parse('2026-01-02T03:04:05.000Z');

function flow(id: string, startMs: number, ms: number | null, phases: PhasesJSON | null = null): FlowJSON {
  return {
    id,
    run: 'r',
    thread: null,
    state: ms === null ? 'STREAMING' : 'COMPLETE',
    source: 'upstream',
    method: 'POST',
    path: '/v1/chat/completions',
    scope: null,
    model: 'gpt-4o-mini',
    status: 200,
    streamed: true,
    tape: null,
    started_at: new Date(T0 + startMs).toISOString(),
    duration_ms: ms,
    usage: null,
    tool_calls: [],
    hold: null,
    decision: null,
    error: null,
    cost: null,
    saved: null,
    phases,
  };
}

const PHASES: PhasesJSON = { waiting_ms: 10, held_ms: 0, first_byte_ms: 30, streaming_ms: 60 };

describe('segments', () => {
  it('splits a finished call by its phases, leaving out the empty ones', () => {
    expect(segments(flow('a', 0, 100, PHASES), 100)).toEqual([
      { phase: 'waiting', ms: 10, width: 10 },
      { phase: 'first_byte', ms: 30, width: 30 },
      { phase: 'streaming', ms: 60, width: 60 },
    ]);
  });

  it('shows a running call as one growing segment, held when it is held', () => {
    expect(segments(flow('a', 0, null), 42)).toEqual([{ phase: 'running', ms: 42, width: 100 }]);
    const held = {
      ...flow('a', 0, null),
      state: 'INTERCEPT' as const,
      hold: { stage: 'response' as const, since: '', deadline: '', timeout_s: 30 },
    };
    expect(segments(held, 5)[0]!.phase).toBe('held');
  });

  it('shows a finished call without phases as one whole segment', () => {
    expect(segments(flow('a', 0, 80), 80)).toEqual([{ phase: 'whole', ms: 80, width: 100 }]);
  });
});

describe('layoutTimeline', () => {
  it('puts the calls in start order on one axis from the first start to the last end', () => {
    const layout = layoutTimeline([flow('c', 500, 500), flow('a', 0, 250), flow('b', 250, 250)], T0);
    expect(layout.origin).toBe(T0);
    expect(layout.span).toBe(1000);
    expect(layout.bars.map((bar) => [bar.flow.id, bar.left, bar.width])).toEqual([
      ['a', 0, 25],
      ['b', 25, 25],
      ['c', 50, 50],
    ]);
  });

  it('packs calls that run side by side into their own lanes, and counts their overlaps', () => {
    const layout = layoutTimeline([flow('a', 0, 400), flow('b', 100, 400), flow('c', 450, 100)], T0);
    expect(layout.bars.map((bar) => bar.lane)).toEqual([0, 1, 0]);
    expect(layout.lanes).toBe(2);
    expect(layout.bars.map((bar) => bar.overlaps)).toEqual([1, 2, 1]);
  });

  it('lets a call that starts as another ends share its lane', () => {
    const layout = layoutTimeline([flow('a', 0, 100), flow('b', 100, 100)], T0);
    expect(layout.bars.map((bar) => bar.lane)).toEqual([0, 0]);
    expect(layout.bars.map((bar) => bar.overlaps)).toEqual([0, 0]);
  });

  it('ends a running call at now, so its bar grows', () => {
    const calls = [flow('a', 0, 100), flow('b', 50, null)];
    const early = layoutTimeline(calls, T0 + 200);
    const later = layoutTimeline(calls, T0 + 400);
    expect(early.bars[1]).toMatchObject({ running: true, start: 50, end: 200 });
    expect(later.bars[1]).toMatchObject({ running: true, start: 50, end: 400 });
    expect(later.span).toBe(400);
  });

  it('marks the axis with round steps from zero', () => {
    const layout = layoutTimeline([flow('a', 0, 1000)], T0);
    expect(layout.ticks.map((tick) => tick.label)).toEqual([
      '0',
      '200 ms',
      '400 ms',
      '600 ms',
      '800 ms',
      '1 s',
    ]);
    expect(layout.ticks.at(-1)!.at).toBe(100);
  });

  it('lays out nothing for no calls', () => {
    expect(layoutTimeline([], T0)).toMatchObject({ bars: [], lanes: 0, ticks: [] });
  });
});

describe('tickStep and tickLabel', () => {
  it('picks 1, 2 or 5 times a power of ten', () => {
    expect(tickStep(1000)).toBe(200);
    expect(tickStep(60)).toBe(10);
    expect(tickStep(7_000)).toBe(1000);
    expect(tickStep(1_500)).toBe(200);
    expect(tickStep(0)).toBe(0.2);
  });

  it('names times as the axis shows them', () => {
    expect(tickLabel(0)).toBe('0');
    expect(tickLabel(250)).toBe('250 ms');
    expect(tickLabel(1500)).toBe('1.5 s');
    expect(tickLabel(150_000)).toBe('2 m 30 s');
    expect(tickLabel(120_000)).toBe('2 m');
  });
});
