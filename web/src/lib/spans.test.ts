import { describe, expect, it } from 'vitest';
import { stateSpans } from './spans';

describe('stateSpans', () => {
  it('gives each state the time up to the next one, not the time since the start', () => {
    const history = [
      { state: 'LOOKUP' as const, ms: 0 },
      { state: 'CONNECT' as const, ms: 0.4 },
      { state: 'STREAMING' as const, ms: 300.4 },
      { state: 'COMPLETE' as const, ms: 450 },
    ];
    expect(stateSpans(history, 450, 450)).toEqual([
      { state: 'LOOKUP', at: 0, ms: 0.4 },
      { state: 'CONNECT', at: 0.4, ms: 300 },
      { state: 'STREAMING', at: 300.4, ms: 149.6 },
      { state: 'COMPLETE', at: 450, ms: null },
    ]);
  });

  it('runs the current state of a running flow up to now', () => {
    const history = [
      { state: 'LOOKUP' as const, ms: 0 },
      { state: 'INTERCEPT' as const, ms: 20 },
    ];
    expect(stateSpans(history, null, 5020).at(-1)).toEqual({ state: 'INTERCEPT', at: 20, ms: 5000 });
  });

  it('runs a last state that is not final up to the duration', () => {
    expect(stateSpans([{ state: 'CONNECT', ms: 1 }], 11, 99)).toEqual([{ state: 'CONNECT', at: 1, ms: 10 }]);
  });
});
