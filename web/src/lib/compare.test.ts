import { describe, expect, it } from 'vitest';
import type { FlowJSON, WordJSON } from '../api/types.gen';
import {
  difference,
  figure,
  hasMarks,
  isMiss,
  refLabel,
  shortJson,
  tapeKeyOf,
  tapeRef,
  wordRuns,
} from './compare';

const WORDS: WordJSON[] = [
  { op: 'same', text: 'Weather ' },
  { op: 'same', text: 'in ' },
  { op: 'removed', text: 'Paris ' },
  { op: 'added', text: 'Lyon ' },
  { op: 'added', text: 'and ' },
  { op: 'added', text: 'Nice ' },
  { op: 'same', text: 'tomorrow?' },
];

describe('word runs', () => {
  it('show A the removed words and B the added ones, neighbours joined', () => {
    expect(wordRuns(WORDS, 'a')).toEqual([
      { mark: 'same', text: 'Weather in ' },
      { mark: 'removed', text: 'Paris ' },
      { mark: 'same', text: 'tomorrow?' },
    ]);
    expect(wordRuns(WORDS, 'b')).toEqual([
      { mark: 'same', text: 'Weather in ' },
      { mark: 'added', text: 'Lyon and Nice ' },
      { mark: 'same', text: 'tomorrow?' },
    ]);
    expect(hasMarks(WORDS, 'a')).toBe(true);
    expect(
      hasMarks(
        WORDS.filter((word) => word.op !== 'removed'),
        'a',
      ),
    ).toBe(false);
    expect(wordRuns([], 'a')).toEqual([]);
  });
});

describe('figures', () => {
  it('are shown with their differences, B less A', () => {
    expect(difference({ a: 100, b: 220, same: false }, 'ms')).toBe('+120 ms');
    expect(difference({ a: 12, b: 9, same: false }, 'tokens')).toBe('−3');
    expect(difference({ a: 0.001, b: 0.0022, same: false }, 'usd')).toBe('+$0.0012');
    expect(difference({ a: 5, b: 5, same: true }, 'tokens')).toBe('');
    expect(difference({ a: null, b: 5, same: false }, 'tokens')).toBe('');
    expect(figure(null, 'usd')).toBe('—');
    expect(figure(1234, 'tokens')).toBe('1,234');
  });

  it('and other values in one short line', () => {
    expect(shortJson('Paris')).toBe('"Paris"');
    expect(shortJson({ city: 'Paris' })).toBe('{"city":"Paris"}');
    expect(shortJson('x'.repeat(200), 10)).toHaveLength(10);
    expect(shortJson(undefined)).toBe('');
  });
});

describe('references', () => {
  it('name tapes by key and flows by id', () => {
    expect(tapeRef('t/abc.2')).toBe('tape:t/abc.2');
    expect(tapeKeyOf('tape:t/abc.2')).toBe('t/abc.2');
    expect(tapeKeyOf('f1-000001')).toBeNull();
    expect(refLabel('f1-000001')).toBe('f1-000001');
    expect(refLabel(`tape:scope/${'a'.repeat(64)}`)).toBe(`tape scope/${'a'.repeat(12)}…`);
  });

  it('a miss is a call that found no tape', () => {
    const miss = { state: 'ERROR', status: 404, tape: 'abc', tape_use: 'missed' } as FlowJSON;
    expect(isMiss(miss)).toBe(true);
    expect(isMiss({ ...miss, tape_use: 'replayed' })).toBe(false);
    expect(isMiss({ ...miss, tape_use: null })).toBe(false);
  });
});
