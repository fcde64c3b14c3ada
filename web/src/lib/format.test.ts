import { describe, expect, it } from 'vitest';
import {
  bytes,
  clockTime,
  compact,
  cost,
  count,
  countdown,
  dateTime,
  duration,
  pretty,
  prettyArguments,
  stateLabel,
} from './format';

describe('stateLabel', () => {
  it('names the held state HELD and keeps the others', () => {
    expect(stateLabel('INTERCEPT')).toBe('HELD');
    expect(stateLabel('STREAMING')).toBe('STREAMING');
  });
});

describe('cost', () => {
  it('shows dollars, two significant digits below a cent, and a dash when unknown', () => {
    expect(cost(1.234)).toBe('$1.23');
    expect(cost(0.0042)).toBe('$0.0042');
    expect(cost(0.00001234)).toBe('$0.000012');
    expect(cost(0)).toBe('$0.00');
    expect(cost(null)).toBe('—');
    expect(cost(undefined)).toBe('—');
  });
});

describe('times', () => {
  it('shows a local clock time with milliseconds, and a local date', () => {
    const at = new Date(2026, 0, 2, 3, 4, 5, 67);
    expect(clockTime(at.toISOString())).toBe('03:04:05.067');
    expect(dateTime(at.toISOString())).toBe('2026-01-02 03:04:05');
  });

  it('keeps what is not a time as it is', () => {
    expect(clockTime('soon')).toBe('soon');
    expect(dateTime('soon')).toBe('soon');
  });
});

describe('duration', () => {
  it.each([
    [null, ''],
    [undefined, ''],
    [0.42, '0.4 ms'],
    [12.6, '13 ms'],
    [999.4, '999 ms'],
    [1234, '1.23 s'],
    [59_999, '60.00 s'],
    [61_500, '1 m 2 s'],
  ])('%s ms reads %j', (ms, text) => {
    expect(duration(ms)).toBe(text);
  });
});

describe('numbers', () => {
  it('groups thousands the same in every locale', () => {
    expect(count(0)).toBe('0');
    expect(count(999)).toBe('999');
    expect(count(1234567)).toBe('1,234,567');
    expect(count(1234.6)).toBe('1,235');
  });

  it('shortens big counts', () => {
    expect(compact(9_999)).toBe('9,999');
    expect(compact(12_345)).toBe('12.3k');
    expect(compact(2_500_000)).toBe('2.5M');
  });

  it('sizes in B, KB and MB', () => {
    expect(bytes(1023)).toBe('1023 B');
    expect(bytes(1536)).toBe('1.5 KB');
    expect(bytes(3 * 1024 * 1024)).toBe('3.0 MB');
  });

  it('counts down in m:ss, never below zero', () => {
    expect(countdown(61_000)).toBe('1:01');
    expect(countdown(1)).toBe('0:01');
    expect(countdown(-5_000)).toBe('0:00');
  });
});

describe('JSON', () => {
  it('pretty-prints values and leaves text alone', () => {
    expect(pretty(undefined)).toBe('');
    expect(pretty('as is')).toBe('as is');
    expect(pretty({ a: [1] })).toBe('{\n  "a": [\n    1\n  ]\n}');
  });

  it('pretty-prints tool arguments given as JSON text, and keeps other text', () => {
    expect(prettyArguments('{"city":"Paris"}')).toBe('{\n  "city": "Paris"\n}');
    expect(prettyArguments('{not json')).toBe('{not json');
    expect(prettyArguments({ days: 2 })).toBe('{\n  "days": 2\n}');
  });
});
