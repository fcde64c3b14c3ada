// @vitest-environment happy-dom
import { act } from 'react';
import { createRoot, type Root } from 'react-dom/client';
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import type { TapeJSON } from '../api/types.gen';
import { TAPE_PAGE_SIZE } from '../stores/tapes';
import { orderLabel, TapeBrowser } from './TapeBrowser';

declare global {
  var IS_REACT_ACT_ENVIRONMENT: boolean | undefined;
}

const TAPES = 250;

function tape(n: number): TapeJSON {
  const hash = n.toString(16).padStart(64, '0');
  return {
    key: hash,
    id: hash,
    scope: null,
    hash,
    recording: 1,
    model: 'gpt-4o-mini',
    endpoint: '/v1/chat/completions',
    timestamp: new Date(Date.UTC(2026, 0, 2) + n * 1000).toISOString(),
    status: 200,
    streamed: false,
    size: 1000 + n,
    chunks: 1,
    tool_calls: [],
    origin: 'recorded',
    parent: null,
    kept: null,
  };
}

// What the fake server was asked, and its pages: `cursor` is an offset, as the server's is.
const asked: string[] = [];
let host: HTMLDivElement;
let root: Root;

beforeEach(() => {
  globalThis.IS_REACT_ACT_ENVIRONMENT = true;
  asked.length = 0;
  vi.stubGlobal('fetch', (url: string) => {
    asked.push(url);
    const query = new URL(url, 'http://x').searchParams;
    const offset = Number(query.get('cursor') ?? 0);
    const limit = Number(query.get('limit') ?? 100);
    const all = Array.from({ length: TAPES }, (_, index) => tape(TAPES - index));
    const page = all.slice(offset, offset + limit);
    const headers: Record<string, string> = { 'X-Total-Count': String(TAPES) };
    if (offset + limit < TAPES) {
      query.set('cursor', String(offset + limit));
      headers.Link = `</api/tapes?${query.toString()}>; rel="next"`;
    }
    return Promise.resolve(new Response(JSON.stringify(page), { headers }));
  });
  host = document.createElement('div');
  document.body.append(host);
  root = createRoot(host);
});

afterEach(() => {
  act(() => root.unmount());
  host.remove();
  vi.unstubAllGlobals();
});

async function settle(): Promise<void> {
  await act(async () => {
    await new Promise((resolve) => setTimeout(resolve, 0));
  });
}

function shown(): { rows: number; foot: string } {
  return {
    rows: host.querySelectorAll('[data-testid="tape-row"]').length,
    foot: host.querySelector('[data-testid="tape-count"]')!.textContent,
  };
}

function click(testId: string): void {
  act(() => host.querySelector<HTMLButtonElement>(`[data-testid="${testId}"]`)!.click());
}

it('shows the first page and how many tapes there are, then the next page on asking', async () => {
  act(() => root.render(<TapeBrowser onCompare={() => undefined} />));
  await settle();
  expect(asked).toEqual([`/api/tapes?limit=${TAPE_PAGE_SIZE}`]);
  expect(shown()).toEqual({ rows: TAPE_PAGE_SIZE, foot: `${TAPE_PAGE_SIZE} of 250 tapes` });
  click('tape-more');
  await settle();
  expect(asked[1]).toBe(`/api/tapes?limit=${TAPE_PAGE_SIZE}&cursor=${TAPE_PAGE_SIZE}`);
  expect(shown()).toEqual({ rows: 2 * TAPE_PAGE_SIZE, foot: `${2 * TAPE_PAGE_SIZE} of 250 tapes` });
  click('tape-more');
  await settle();
  expect(shown()).toEqual({ rows: 250, foot: '250 tapes' });
  expect(host.querySelector('[data-testid="tape-more"]')).toBeNull();
});

it('asks the server for the order a column head is clicked for, and turns it round', async () => {
  act(() => root.render(<TapeBrowser onCompare={() => undefined} />));
  await settle();
  const list = () => host.querySelector('[role="listbox"]')!.getAttribute('aria-label');
  expect(list()).toBe('Tapes, newest first');
  click('tape-sort-size');
  await settle();
  expect(asked.at(-1)).toBe(`/api/tapes?sort=size&limit=${TAPE_PAGE_SIZE}`);
  expect(list()).toBe('Tapes, biggest first');
  click('tape-sort-size');
  await settle();
  expect(asked.at(-1)).toBe(`/api/tapes?sort=size&order=asc&limit=${TAPE_PAGE_SIZE}`);
  expect(host.querySelector('[data-testid="tape-sort-size"]')!.getAttribute('aria-pressed')).toBe('true');
  expect(host.querySelector('[data-testid="tape-sort-recorded"]')!.getAttribute('aria-pressed')).toBe(
    'false',
  );
});

it('says how the list is ordered', () => {
  expect(orderLabel({})).toBe('newest first');
  expect(orderLabel({ sort: 'recorded', order: 'asc' })).toBe('oldest first');
  expect(orderLabel({ sort: 'model', order: 'asc' })).toBe('by model, A to Z');
  expect(orderLabel({ sort: 'chunks', order: 'desc' })).toBe('most chunks first');
});

it('searches the words once typing stops', async () => {
  vi.useFakeTimers();
  try {
    act(() => root.render(<TapeBrowser onCompare={() => undefined} />));
    await act(() => vi.advanceTimersByTimeAsync(0));
    const input = host.querySelector<HTMLInputElement>('[data-testid="tape-search"]')!;
    const type = (text: string) =>
      act(() => {
        // Past React's own value setter, as typing is.
        Reflect.set(HTMLInputElement.prototype, 'value', text, input);
        input.dispatchEvent(new Event('input', { bubbles: true }));
      });
    type('par');
    await act(() => vi.advanceTimersByTimeAsync(100));
    type('paris wea');
    await act(() => vi.advanceTimersByTimeAsync(249));
    expect(asked).toEqual([`/api/tapes?limit=${TAPE_PAGE_SIZE}`]);
    await act(() => vi.advanceTimersByTimeAsync(1));
    expect(asked).toEqual([
      `/api/tapes?limit=${TAPE_PAGE_SIZE}`,
      `/api/tapes?q=paris+wea&limit=${TAPE_PAGE_SIZE}`,
    ]);
  } finally {
    vi.useRealTimers();
  }
});
