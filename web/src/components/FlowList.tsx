// The call list, newest first, with its filters and the Clear / Export HAR actions.
import { memo, useEffect, useRef, useState, type RefObject } from 'react';
import { api, HAR_URL } from '../api/http';
import type { FlowJSON } from '../api/types.gen';
import { clockTime, count, duration } from '../lib/format';
import { live } from '../stores/live';
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
  selectedId: string | null;
  onSelect: (id: string) => void;
  filterRef: RefObject<HTMLInputElement | null>;
  synced: boolean;
}

export function FlowList({ flows, total, filter, onFilter, selectedId, onSelect, filterRef, synced }: Props) {
  const listRef = useRef<HTMLDivElement>(null);

  useEffect(() => {
    if (!selectedId) return;
    const row = listRef.current?.querySelector(`[data-flow-id="${CSS.escape(selectedId)}"]`);
    row?.scrollIntoView({ block: 'nearest' });
  }, [selectedId]);

  return (
    <section className="flow-list" aria-label="Calls">
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
        <span>call</span>
        <span>model</span>
        <span>state</span>
        <span>source</span>
        <span className="num">status</span>
        <span className="num">duration</span>
        <span className="num">tokens</span>
        <span>tools</span>
      </div>
      <div
        ref={listRef}
        className="rows"
        role="listbox"
        aria-label="Calls, newest first"
        tabIndex={0}
        aria-activedescendant={
          selectedId && flows.some((flow) => flow.id === selectedId) ? rowId(selectedId) : undefined
        }
      >
        {flows.map((flow) => (
          <FlowRow key={flow.id} flow={flow} selected={flow.id === selectedId} onSelect={onSelect} />
        ))}
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

const rowId = (id: string) => `flow-${id}`;

const FlowRow = memo(function FlowRow({
  flow,
  selected,
  onSelect,
}: {
  flow: FlowJSON;
  selected: boolean;
  onSelect: (id: string) => void;
}) {
  const held = flow.hold !== null;
  const tools = flow.tool_calls.map((call) => call.name).join(', ');
  const call = `${flow.method} ${flow.scope ? `/t/${flow.scope}` : ''}${flow.path}`;
  return (
    <div
      id={rowId(flow.id)}
      className={`row flow-row${selected ? ' selected' : ''}${held ? ' held' : ''}${flow.state === 'ERROR' ? ' failed' : ''}`}
      role="option"
      aria-selected={selected}
      data-testid="flow-row"
      data-flow-id={flow.id}
      data-state={flow.state}
      data-source={flow.source ?? ''}
      data-held={held ? 'true' : 'false'}
      onClick={() => onSelect(flow.id)}
    >
      <span className="mono muted">{clockTime(flow.started_at)}</span>
      <span className="ellipsis mono" title={call}>
        <span className="method">{flow.method}</span>{' '}
        {flow.scope && <span className="scope">/t/{flow.scope}</span>}
        {flow.path}
      </span>
      <span className="ellipsis" title={flow.model ?? undefined}>
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
      <span className="ellipsis tools" title={tools || undefined}>
        {tools}
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
      live.replaceFlows(await api.flows());
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
