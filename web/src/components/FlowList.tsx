// The call list, newest first, with its filters and the Clear / Export HAR actions. Only the rows
// in view are rendered, so it stays smooth with 100 000 calls.
import {
  memo,
  useEffect,
  useEffectEvent,
  useMemo,
  useRef,
  useState,
  type CSSProperties,
  type RefObject,
} from 'react';
import { live } from '../stores/live';
import { api, HAR_URL } from '../api/http';
import type { FlowJSON } from '../api/types.gen';
import { clockTime, cost, count, duration } from '../lib/format';
import { textWidth, themeFont } from '../lib/measure';
import { rowWindow, scrollToRow, useKeptInPlace, useViewport } from '../lib/virtual';
import { SourceBadge, StateBadge, StatusText } from './Badges';

export interface Filter {
  text: string;
  source: string;
}

export function matches(flow: FlowJSON, { text, source }: Filter): boolean {
  if (source && flow.source !== source) return false;
  const needle = text.trim().toLowerCase();
  if (!needle) return true;
  const haystack = [
    flow.path,
    flow.model ?? '',
    flow.id,
    flow.state,
    flow.hold ? 'held' : '',
    flow.scope ?? '',
    ...flow.tool_calls.map((call) => call.name),
  ];
  return haystack.some((value) => value.toLowerCase().includes(needle));
}

interface Props {
  flows: readonly FlowJSON[];
  total: number;
  filter: Filter;
  onFilter: (filter: Filter) => void;
  /** May name a call that is not among `flows` (one opened from elsewhere): no row is marked. */
  selectedId: string | null;
  /** `compare`: the row was Ctrl- or ⌘-clicked, to compare it with the selected call. */
  onSelect: (id: string, compare: boolean) => void;
  filterRef: RefObject<HTMLInputElement | null>;
  synced: boolean;
  /**
   * Called when the rows in view come near the end of `flows` (to load the next page), and again
   * each time `flows` grows while they still are.
   */
  onNearEnd?: () => void;
}

// Rows have one fixed height, so the list renders only those in view (plus a margin) and
// stays smooth at 100 000 calls. Keep in step with `.flow-row` in lists.css.
export const ROW_HEIGHT = 26;
const MARGIN_ROWS = 12;
const NEAR_END_ROWS = 50;

export function FlowList({
  flows,
  total,
  filter,
  onFilter,
  selectedId,
  onSelect,
  filterRef,
  synced,
  onNearEnd,
}: Props) {
  const listRef = useRef<HTMLDivElement>(null);
  const { scrollTop, viewport, onScroll } = useViewport(listRef);
  const { start, end } = rowWindow(scrollTop, viewport, ROW_HEIGHT, flows.length, MARGIN_ROWS);
  const selectedIndex = useMemo(
    () => (selectedId ? flows.findIndex((flow) => flow.id === selectedId) : -1),
    [flows, selectedId],
  );
  const columns = useMemo(() => columnWidths(flows), [flows]);

  // Scrolled to when the selection changes (a click, j/k, a link), not when new calls arrive.
  const shownSelection = useRef<string | null>(null);
  useEffect(() => {
    const element = listRef.current;
    if (!element || selectedIndex < 0 || shownSelection.current === selectedId) return;
    shownSelection.current = selectedId;
    const top = scrollToRow(selectedIndex, element.scrollTop, element.clientHeight, ROW_HEIGHT);
    if (top !== null) element.scrollTop = top;
  }, [selectedId, selectedIndex]);

  useKeptInPlace(listRef, flows, ROW_HEIGHT);

  const nearEnd = flows.length > 0 && end >= flows.length - NEAR_END_ROWS;
  const tellNearEnd = useEffectEvent(() => onNearEnd?.());
  // Told again when someone starts listening: the end may have been in view before.
  const listening = onNearEnd !== undefined;
  useEffect(() => {
    if (nearEnd && listening) tellNearEnd();
  }, [nearEnd, flows.length, listening]);

  return (
    <section className="flow-list" aria-label="Calls" style={columns}>
      <div className="toolbar">
        <input
          ref={filterRef}
          type="search"
          className="filter"
          placeholder="Filter: path, model, id, tool, state  ( / )"
          aria-label="Filter calls"
          data-testid="filter-text"
          value={filter.text}
          onChange={(event) => onFilter({ ...filter, text: event.target.value })}
          onKeyDown={(event) => {
            if (event.key === 'Escape') {
              onFilter({ ...filter, text: '' });
              event.currentTarget.blur();
            }
          }}
        />
        <select
          aria-label="Source"
          data-testid="filter-source"
          value={filter.source}
          onChange={(event) => onFilter({ ...filter, source: event.target.value })}
        >
          <option value="">all sources</option>
          <option value="tape">tape</option>
          <option value="upstream">upstream</option>
          <option value="mock">mock</option>
        </select>
        <ClearButton />
        <a
          className="button"
          href={HAR_URL}
          download="playingpack.har"
          data-testid="export-har"
          title="Download the calls in memory as a HAR file"
        >
          Export HAR
        </a>
      </div>
      <div className="row row-head" aria-hidden="true">
        <span>time</span>
        <span>model</span>
        <span>state</span>
        <span>source</span>
        <span className="num">status</span>
        <span className="num">duration</span>
        <span className="num">tokens</span>
        <span className="num">cost</span>
        <span>tools</span>
        <span className="call">
          <span>call</span>
        </span>
      </div>
      <div
        ref={listRef}
        className="rows"
        role="listbox"
        aria-label="Calls, newest first"
        tabIndex={0}
        onScroll={onScroll}
        aria-activedescendant={
          selectedIndex >= start && selectedIndex < end && selectedId ? rowId(selectedId) : undefined
        }
      >
        <div className="rows-space" role="presentation" style={{ height: flows.length * ROW_HEIGHT }}>
          <div role="presentation" style={{ transform: `translateY(${start * ROW_HEIGHT}px)` }}>
            {flows.slice(start, end).map((flow, offset) => (
              <FlowRow
                key={flow.id}
                flow={flow}
                position={start + offset + 1}
                size={flows.length}
                selected={flow.id === selectedId}
                onSelect={onSelect}
              />
            ))}
          </div>
        </div>
        {flows.length === 0 && (
          <p className="empty">
            {!synced
              ? 'Connecting…'
              : total === 0
                ? 'No calls yet. Point your agent at this server\u2019s /v1.'
                : 'No call matches the filter.'}
          </p>
        )}
      </div>
      <div className="list-foot muted">
        {flows.length === total ? `${count(total)} calls` : `${count(flows.length)} of ${count(total)} calls`}
      </div>
    </section>
  );
}

// Model and tool names (and costs) are never cut: their columns are as wide as the longest one
// listed, up to a bound; the call's path, last, takes what is left. The fonts are those of
// `.model`, `.tools` and `.cost` in lists.css.
const MAX_MODEL_PX = 260;
const MAX_TOOLS_PX = 360;
const CELL_SLACK_PX = 2;
// `.cost` keeps this much room after its right-aligned figures.
const COST_PADDING_PX = 6;

function columnWidths(flows: readonly FlowJSON[]): CSSProperties {
  const models = new Set<string>();
  const tools = new Set<string>();
  const costs = new Set<string>();
  for (const flow of flows) {
    if (flow.model) models.add(flow.model);
    if (flow.tool_calls.length) tools.add(toolNames(flow));
    costs.add(cost(flow.cost));
  }
  const sans = themeFont(13, '--sans');
  const mono = themeFont(12, '--mono');
  const widest = (values: Set<string>, font: string, max: number) => {
    let width = 0;
    for (const value of values) width = Math.max(width, textWidth(value, font));
    return `${Math.ceil(Math.min(max, width) + CELL_SLACK_PX)}px`;
  };
  return {
    '--model-width': widest(models, sans, MAX_MODEL_PX),
    '--tools-width': widest(tools, mono, MAX_TOOLS_PX),
    '--cost-width': `calc(${widest(costs, mono, MAX_TOOLS_PX)} + ${COST_PADDING_PX}px)`,
  } as CSSProperties;
}

function toolNames(flow: FlowJSON): string {
  return flow.tool_calls.map((call) => call.name).join(', ');
}

const rowId = (id: string) => `flow-${id}`;

const FlowRow = memo(function FlowRow({
  flow,
  position,
  size,
  selected,
  onSelect,
}: {
  flow: FlowJSON;
  position: number;
  size: number;
  selected: boolean;
  onSelect: (id: string, compare: boolean) => void;
}) {
  const held = flow.hold !== null;
  const tools = toolNames(flow);
  const call = `${flow.method} ${flow.scope ? `/t/${flow.scope}` : ''}${flow.path}`;
  const finished = flow.duration_ms !== null;
  return (
    <div
      id={rowId(flow.id)}
      className={`row flow-row${selected ? ' selected' : ''}${held ? ' held' : ''}${flow.state === 'ERROR' ? ' failed' : ''}`}
      role="option"
      aria-selected={selected}
      aria-posinset={position}
      aria-setsize={size}
      data-testid="flow-row"
      data-flow-id={flow.id}
      data-state={flow.state}
      data-source={flow.source ?? ''}
      data-held={held ? 'true' : 'false'}
      data-parent={flow.parent ?? undefined}
      onClick={(event) => onSelect(flow.id, event.ctrlKey || event.metaKey)}
    >
      <span className="mono muted" title={clockTime(flow.started_at)}>
        {clockTime(flow.started_at).slice(0, 8)}
      </span>
      <span className="ellipsis model" title={flow.model ?? undefined}>
        {flow.model}
      </span>
      <span>
        <StateBadge state={flow.state} held={held} />
      </span>
      <span>
        <SourceBadge source={flow.source} />
      </span>
      <span className="num">
        <StatusText status={flow.status} />
      </span>
      <span className="num mono">
        {flow.duration_ms === null ? (held ? '' : '…') : duration(flow.duration_ms)}
      </span>
      <span className="num mono">{flow.usage ? count(flow.usage.total_tokens) : ''}</span>
      <span
        className="num mono cost"
        title={flow.source === 'tape' && finished ? `saved ${cost(flow.saved)}` : undefined}
      >
        {finished ? cost(flow.cost) : ''}
      </span>
      <span className="ellipsis tools" title={tools || undefined}>
        {tools}
      </span>
      <span className="call" title={call}>
        <span className="ellipsis mono">
          {flow.parent && (
            <span
              className="resend-mark"
              title={`${flow.edited ? 'Edited and resent' : 'Resent'} from ${flow.parent}`}
              aria-label="resend"
            >
              ↻{' '}
            </span>
          )}
          <span className="method">{flow.method}</span>{' '}
          {flow.scope && <span className="scope">/t/{flow.scope}</span>}
          {flow.path}
        </span>
      </span>
    </div>
  );
});

function ClearButton() {
  const [error, setError] = useState<string | null>(null);
  async function clear(): Promise<void> {
    setError(null);
    try {
      await api.clearFlows();
      live.noteCleared();
    } catch (failure) {
      setError((failure as Error).message);
    }
  }
  return (
    <>
      <button
        type="button"
        data-testid="clear-flows"
        onClick={() => void clear()}
        title="Forget finished calls (held and running ones stay)"
      >
        Clear
      </button>
      {error && (
        <span className="inline-error" role="alert">
          {error}
        </span>
      )}
    </>
  );
}
