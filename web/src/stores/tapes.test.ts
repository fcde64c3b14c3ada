import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { TapeJSON } from '../api/types.gen';
import { appendTapes, INDEXING_POLL_MS, refreshTapes, sortedBy, TAPE_PAGE_SIZE, TapeList } from './tapes';

const tapes = (...keys: string[]) => keys.map((key) => ({ key }) as TapeJSON);
const keys = (list: readonly TapeJSON[]) => list.map((tape) => tape.key);

describe('sortedBy', () => {
  it('turns the order round on a second click of the same column', () => {
    expect(sortedBy({}, 'recorded')).toEqual({ sort: 'recorded', order: 'asc' });
    expect(sortedBy({ sort: 'size', order: 'asc' }, 'size')).toEqual({ sort: 'size', order: 'desc' });
  });

  it('starts names A to Z, and sizes and counts biggest first', () => {
    expect(sortedBy({}, 'model')).toEqual({ sort: 'model', order: 'asc' });
    expect(sortedBy({ sort: 'model', order: 'asc' }, 'chunks')).toEqual({ sort: 'chunks', order: 'desc' });
  });
});

describe('appendTapes and refreshTapes', () => {
  it('add the next page without listing a tape twice', () => {
    expect(keys(appendTapes(tapes('e', 'd', 'c'), tapes('c', 'b')))).toEqual(['e', 'd', 'c', 'b']);
  });

  it('put a fresh first page in front of the tapes it does not repeat', () => {
    expect(keys(refreshTapes(tapes('d', 'c', 'b', 'a'), tapes('f', 'e', 'd')))).toEqual([
      'f',
      'e',
      'd',
      'c',
      'b',
      'a',
    ]);
  });
});

describe('TapeList', () => {
  const asked: string[] = [];
  const pages = new Map<string, { keys: string[]; next?: string; total: number; indexing?: boolean }>();
  const first = `/api/tapes?q=paris&limit=${TAPE_PAGE_SIZE}`;
  const second = `/api/tapes?q=paris&limit=${TAPE_PAGE_SIZE}&cursor=2`;

  beforeEach(() => {
    asked.length = 0;
    pages.clear();
    vi.stubGlobal('fetch', (url: string) => {
      asked.push(url);
      const page = pages.get(url) ?? { keys: [], total: 0 };
      const headers: Record<string, string> = { 'X-Total-Count': String(page.total) };
      if (page.next) headers.Link = `<${page.next}>; rel="next"`;
      if (page.indexing) headers['X-Playingpack-Indexing'] = 'true';
      return Promise.resolve(new Response(JSON.stringify(tapes(...page.keys)), { headers }));
    });
  });

  afterEach(() => {
    vi.unstubAllGlobals();
  });

  const settled = () => new Promise((resolve) => setTimeout(resolve, 0));

  it('reads the first page again while the server is indexing the tapes folder, then stops', async () => {
    vi.useFakeTimers();
    try {
      pages.set(first, { keys: ['b'], total: 1, indexing: true });
      const list = new TapeList();
      list.want({ q: 'paris' });
      await vi.advanceTimersByTimeAsync(0);
      expect(list.state.get()).toMatchObject({ total: 1, indexing: true });
      pages.set(first, { keys: ['c', 'b'], total: 2 });
      await vi.advanceTimersByTimeAsync(INDEXING_POLL_MS);
      expect(list.state.get()).toMatchObject({ total: 2, indexing: false });
      expect(keys(list.state.get().tapes)).toEqual(['c', 'b']);
      await vi.advanceTimersByTimeAsync(INDEXING_POLL_MS * 3);
      expect(asked).toEqual([first, first]);
    } finally {
      vi.useRealTimers();
    }
  });

  it('lists the first page with the total, and the next from the Link header on asking', async () => {
    pages.set(first, { keys: ['c', 'b'], next: second, total: 3 });
    pages.set(second, { keys: ['a'], total: 3 });
    const list = new TapeList();
    list.want({ q: 'paris', sort: 'recorded', order: 'desc' });
    await settled();
    expect(list.state.get()).toMatchObject({ total: 3, next: second, pages: 1, loading: false });
    expect(keys(list.state.get().tapes)).toEqual(['c', 'b']);
    list.more();
    await settled();
    expect(keys(list.state.get().tapes)).toEqual(['c', 'b', 'a']);
    expect(list.state.get()).toMatchObject({ next: null, pages: 2 });
    list.more();
    expect(asked).toEqual([first, second]);
  });

  it('asks the server for another sort, and again for the same one only when told', async () => {
    const list = new TapeList();
    list.want({ sort: 'size', order: 'asc' });
    list.want({ sort: 'size', order: 'asc' });
    await settled();
    expect(asked).toEqual([`/api/tapes?sort=size&order=asc&limit=${TAPE_PAGE_SIZE}`]);
    list.reload();
    await settled();
    expect(asked).toHaveLength(2);
  });

  it('reads the first page again when tapes are written, keeping the pages read after it', async () => {
    pages.set(first, { keys: ['c', 'b'], next: second, total: 3 });
    pages.set(second, { keys: ['a'], total: 3 });
    const list = new TapeList();
    list.want({ q: 'paris' });
    await settled();
    list.more();
    await settled();
    pages.set(first, { keys: ['d', 'c'], next: second, total: 4 });
    list.refresh();
    await settled();
    expect(keys(list.state.get().tapes)).toEqual(['d', 'c', 'b', 'a']);
    expect(list.state.get()).toMatchObject({ total: 4, pages: 2, next: null });
  });

  it('takes a deleted tape off the list at once', async () => {
    pages.set(first, { keys: ['c', 'b', 'a'], total: 3 });
    const list = new TapeList();
    list.want({ q: 'paris' });
    await settled();
    pages.set(first, { keys: ['c', 'a'], total: 2 });
    list.drop('b');
    expect(keys(list.state.get().tapes)).toEqual(['c', 'a']);
    expect(list.state.get().total).toBe(2);
    await settled();
    expect(keys(list.state.get().tapes)).toEqual(['c', 'a']);
  });
});
