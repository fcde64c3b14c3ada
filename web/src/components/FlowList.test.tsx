// @vitest-environment happy-dom
import { act, createRef } from 'react';
import { createRoot, type Root } from 'react-dom/client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FlowJSON } from '../api/types.gen';
import { FlowList, ROW_HEIGHT } from './FlowList';

declare global {
  var IS_REACT_ACT_ENVIRONMENT: boolean | undefined;
}

const CALLS = 100_000;

function flow(n: number): FlowJSON {
  return {
    id: `0badcafe-${String(n).padStart(6, '0')}`,
    run: '0badcafe',
    thread: null,
    state: 'COMPLETE',
    source: n % 3 === 0 ? 'tape' : 'upstream',
    method: 'POST',
    path: '/v1/chat/completions',
    scope: null,
    model: 'claude-sonnet-4-5-20250929',
    status: 200,
    streamed: true,
    tape: null,
    started_at: new Date(Date.UTC(2026, 0, 2, 3, 4, 5) + n).toISOString(),
    duration_ms: 120,
    usage: { input_tokens: 10, output_tokens: 5, total_tokens: 15 },
    tool_calls: [{ id: `call_${n}`, name: 'lookup_customer_order_history', arguments: {} }],
    hold: null,
    decision: null,
    error: null,
    cost: n % 3 === 0 ? 0 : 0.0042,
    saved: n % 3 === 0 ? 0.0042 : null,
    phases: null,
  };
}

// Newest first, as the list shows them.
const FLOWS = Array.from({ length: CALLS }, (_, index) => flow(CALLS - index));

let host: HTMLDivElement;
let root: Root;

beforeEach(() => {
  globalThis.IS_REACT_ACT_ENVIRONMENT = true;
  host = document.createElement('div');
  document.body.append(host);
  root = createRoot(host);
});

afterEach(() => {
  act(() => root.unmount());
  host.remove();
});

function render(
  selectedId: string | null,
  onSelect: (id: string) => void = () => undefined,
  { flows = FLOWS, onNearEnd }: { flows?: readonly FlowJSON[]; onNearEnd?: () => void } = {},
): void {
  act(() =>
    root.render(
      <FlowList
        flows={flows}
        total={flows.length}
        onNearEnd={onNearEnd}
        filter={{ text: '', source: '' }}
        onFilter={() => undefined}
        selectedId={selectedId}
        onSelect={onSelect}
        filterRef={createRef()}
        synced
      />,
    ),
  );
}

const rows = () => [...host.querySelectorAll<HTMLElement>('[role="option"]')];
const listbox = () => host.querySelector<HTMLElement>('[role="listbox"]')!;

describe('FlowList with 100 000 calls', () => {
  it('renders about a screenful of rows, not all of them', () => {
    render(null);
    const shown = rows();
    const screenful = Math.ceil(window.innerHeight / ROW_HEIGHT);
    expect(shown.length).toBeGreaterThanOrEqual(screenful);
    expect(shown.length).toBeLessThan(screenful + 40);
    expect(shown[0]!.dataset.flowId).toBe(FLOWS[0]!.id);
    expect(shown[0]!.getAttribute('aria-setsize')).toBe(String(CALLS));
    // The scrolled space is as tall as every row together.
    const space = listbox().querySelector<HTMLElement>('.rows-space')!;
    expect(space.style.height).toBe(`${CALLS * ROW_HEIGHT}px`);
    expect(host.textContent).toContain('100,000 calls');
  });

  it('shows the rows of where it is scrolled to', () => {
    render(null);
    const list = listbox();
    act(() => {
      list.scrollTop = 50_000 * ROW_HEIGHT;
      list.dispatchEvent(new Event('scroll'));
    });
    const ids = rows().map((row) => row.dataset.flowId);
    expect(ids).toContain(FLOWS[50_000]!.id);
    expect(ids).not.toContain(FLOWS[0]!.id);
    expect(ids.length).toBeLessThan(Math.ceil(window.innerHeight / ROW_HEIGHT) + 40);
  });

  it('brings a selected row at the end into view, and selects by click', () => {
    const last = FLOWS[CALLS - 1]!;
    render(last.id);
    const list = listbox();
    expect(list.scrollTop).toBeGreaterThan((CALLS - 100) * ROW_HEIGHT);
    act(() => {
      list.dispatchEvent(new Event('scroll'));
    });
    const row = rows().find((element) => element.dataset.flowId === last.id);
    expect(row?.getAttribute('aria-selected')).toBe('true');
    expect(list.getAttribute('aria-activedescendant')).toBe(row!.id);

    const picked: string[] = [];
    render(last.id, (id) => picked.push(id));
    act(() => rows()[0]!.click());
    expect(picked).toHaveLength(1);
  });

  it('shows the cost and the full model and tool names', () => {
    render(null);
    const first = rows()[0]!;
    expect(first.textContent).toContain('claude-sonnet-4-5-20250929');
    expect(first.textContent).toContain('lookup_customer_order_history');
    expect(first.textContent).toContain('$0.0042');
  });

  it('keeps the rows being read in place when new calls arrive at the top', () => {
    render(null);
    const list = listbox();
    act(() => {
      list.scrollTop = 500 * ROW_HEIGHT;
      list.dispatchEvent(new Event('scroll'));
    });
    render(null, undefined, { flows: [flow(CALLS + 2), flow(CALLS + 1), ...FLOWS] });
    expect(list.scrollTop).toBe(502 * ROW_HEIGHT);
  });

  it('says when the rows in view come near the end', () => {
    let told = 0;
    const onNearEnd = () => (told += 1);
    render(null, undefined, { onNearEnd });
    expect(told).toBe(0);
    const list = listbox();
    act(() => {
      list.scrollTop = (CALLS - 20) * ROW_HEIGHT;
      list.dispatchEvent(new Event('scroll'));
    });
    expect(told).toBe(1);
  });
});
