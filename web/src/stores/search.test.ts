import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { FlowJSON } from '../api/types.gen';
import { live } from './live';
import { appendPage, PAGE_SIZE, refreshFirstPage, search, TYPING_MS } from './search';

const flows = (...ids: string[]) => ids.map((id) => ({ id }) as FlowJSON);
const ids = (list: readonly FlowJSON[]) => list.map((flow) => flow.id);

describe('appendPage', () => {
  it('adds the next page without listing a call twice', () => {
    expect(ids(appendPage(flows('5', '4', '3'), flows('3', '2', '1')))).toEqual(['5', '4', '3', '2', '1']);
  });
});

describe('refreshFirstPage', () => {
  it('puts the fresh first page in front of the calls it does not repeat', () => {
    expect(ids(refreshFirstPage(flows('4', '3', '2', '1'), flows('6', '5', '4')))).toEqual([
      '6',
      '5',
      '4',
      '3',
      '2',
      '1',
    ]);
  });

  it('takes the fresh version of a call listed before', () => {
    const fresh = { id: '4', state: 'COMPLETE' } as FlowJSON;
    const [first] = refreshFirstPage([{ id: '4', state: 'STREAMING' } as FlowJSON], [fresh]);
    expect(first).toBe(fresh);
  });
});

describe('search', () => {
  const asked: string[] = [];
  const pages = new Map<string, { ids: string[]; next?: string }>();

  beforeEach(() => {
    vi.useFakeTimers();
    asked.length = 0;
    vi.stubGlobal('fetch', (url: string) => {
      asked.push(url);
      const page = pages.get(url) ?? { ids: [] };
      const headers = page.next ? { Link: `<${page.next}>; rel="next"` } : undefined;
      return Promise.resolve(new Response(JSON.stringify(flows(...page.ids)), { headers }));
    });
  });

  afterEach(() => {
    search.want(null, false);
    vi.unstubAllGlobals();
    vi.useRealTimers();
  });

  it('searches the words once typing stops', async () => {
    search.want({ q: 'wea' }, false);
    await vi.advanceTimersByTimeAsync(100);
    search.want({ q: 'weather' }, false);
    await vi.advanceTimersByTimeAsync(TYPING_MS - 1);
    expect(asked).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(asked).toEqual([`/api/flows?q=weather&limit=${PAGE_SIZE}&bodies=false`]);
  });

  it('shows a picked run at once, and its next pages from the Link header on asking', async () => {
    const first = `/api/flows?run=r1&limit=${PAGE_SIZE}&bodies=false`;
    pages.set(first, { ids: ['r1-3', 'r1-2'], next: '/api/flows?run=r1&cursor=2' });
    pages.set('/api/flows?run=r1&cursor=2', { ids: ['r1-1'] });
    search.want({ run: 'r1' }, false);
    await vi.advanceTimersByTimeAsync(0);
    expect(ids(search.state.get().flows)).toEqual(['r1-3', 'r1-2']);
    search.more();
    await vi.advanceTimersByTimeAsync(0);
    expect(ids(search.state.get().flows)).toEqual(['r1-3', 'r1-2', 'r1-1']);
    expect(search.state.get()).toMatchObject({ next: null, pages: 2, loading: false });
    search.more();
    expect(asked).toHaveLength(2);
  });

  it('reads the first page of the live run again when calls finish', async () => {
    const first = `/api/flows?q=paris&run=live&limit=${PAGE_SIZE}&bodies=false`;
    pages.set(first, { ids: ['l-1'] });
    search.want({ q: 'paris', run: 'live' }, true);
    await vi.advanceTimersByTimeAsync(TYPING_MS);
    pages.set(first, { ids: ['l-2', 'l-1'] });
    live.finished.setSoon(live.finished.get() + 1);
    await vi.advanceTimersByTimeAsync(16);
    expect(ids(search.state.get().flows)).toEqual(['l-2', 'l-1']);
  });
});
