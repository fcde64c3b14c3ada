import { describe, expect, it } from 'vitest';
import { rowWindow, scrollToRow } from './virtual';

describe('rowWindow', () => {
  it('covers the rows in view plus a margin on each side', () => {
    expect(rowWindow(0, 260, 26, 100_000, 5)).toEqual({ start: 0, end: 16 });
    expect(rowWindow(2600, 260, 26, 100_000, 5)).toEqual({ start: 95, end: 116 });
  });

  it('stays within the rows there are', () => {
    expect(rowWindow(26 * 98, 260, 26, 100, 5)).toEqual({ start: 93, end: 100 });
    expect(rowWindow(0, 260, 26, 0, 5)).toEqual({ start: 0, end: 0 });
    expect(rowWindow(-40, 260, 26, 3, 5)).toEqual({ start: 0, end: 3 });
  });
});

describe('scrollToRow', () => {
  it('moves as little as it must to show the whole row', () => {
    expect(scrollToRow(5, 0, 260, 26)).toBeNull();
    expect(scrollToRow(10, 0, 260, 26)).toBe(26);
    expect(scrollToRow(2, 260, 260, 26)).toBe(52);
    expect(scrollToRow(99_999, 0, 260, 26)).toBe(99_999 * 26 + 26 - 260);
  });
});
