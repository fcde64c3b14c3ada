// A run's calls as a waterfall, like a browser's network panel: one row per call in start order
// on a shared time axis, each bar split into waiting, held, first byte and streaming. Calls
// still running grow; hovering shows a call, clicking opens it in Calls.
import { memo, useEffect, useMemo, useState } from 'react';
import type { FlowJSON } from '../api/types.gen';
import { cost, count, duration } from '../lib/format';
import { layoutTimeline, PHASES, tickLabel, tickStep, type Bar } from '../lib/timeline';
import { SourceBadge } from './Badges';

// Running bars grow this often.
const GROW_MS = 200;
// The overview packs parallel calls into lanes this tall, up to this height.
const LANE_PX = 5;
const OVERVIEW_MAX_PX = 48;

interface Props {
  flows: readonly FlowJSON[];
  shown: boolean;
  /** Why there are no calls to show (loading, an error), if it is not that there are none. */
  status: string | null;
  onOpenCall: (id: string) => void;
}

interface Hover {
  id: string;
  x: number;
  y: number;
}

/** The time, ticking while `active` (a running call's bar ends at it). */
function useNowWhile(active: boolean): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!active) return;
    const timer = setInterval(() => setNow(Date.now()), GROW_MS);
    return () => clearInterval(timer);
  }, [active]);
  return now;
}

export function Timeline({ flows, shown, status, onOpenCall }: Props) {
  const running = shown && flows.some((flow) => flow.state !== 'COMPLETE' && flow.state !== 'ERROR');
  const now = useNowWhile(running);
  const layout = useMemo(() => layoutTimeline(flows, now), [flows, now]);
  const [hover, setHover] = useState<Hover | null>(null);
  const step = tickStep(layout.span);
  const gridStep = layout.span > 0 ? (step / layout.span) * 100 : 100;
  // Looked up on each render: a running call's bar grows under the pointer.
  const hovered = hover ? layout.bars.find((bar) => bar.flow.id === hover.id) : undefined;
  const laneHeight = Math.min(LANE_PX, OVERVIEW_MAX_PX / Math.max(layout.lanes, 1));

  return (
    <main className="waterfall-view" hidden={!shown}>
      <section className="waterfall" aria-label="Timeline" data-testid="timeline">
        <div className="toolbar waterfall-bar">
          <ul className="legend" aria-label="Legend">
            {PHASES.map(({ phase, label }) => (
              <li key={phase}>
                <span className={`swatch phase-${phase}`} aria-hidden="true" />
                {label}
              </li>
            ))}
          </ul>
          <span className="spacer" />
          <span className="muted">
            {count(layout.bars.length)} {layout.bars.length === 1 ? 'call' : 'calls'}
            {layout.bars.length > 0 && ` over ${tickLabel(layout.span)}`}
            {layout.lanes > 1 && ` · up to ${layout.lanes} at once`}
          </span>
        </div>
        {layout.lanes > 1 && (
          <div className="wf-overview" aria-hidden="true" style={{ height: layout.lanes * laneHeight + 8 }}>
            <div className="wf-overview-track">
              {layout.bars.map((bar) => (
                <span
                  key={bar.flow.id}
                  className={`wf-lane-bar${bar.running ? ' running' : ''}${bar.flow.state === 'ERROR' ? ' failed' : ''}`}
                  style={{
                    left: `${bar.left}%`,
                    width: `${bar.width}%`,
                    top: bar.lane * laneHeight,
                    height: Math.max(laneHeight - 1, 1),
                  }}
                />
              ))}
            </div>
          </div>
        )}
        <div className="wf-row wf-head row-head" aria-hidden="true">
          <span className="wf-label">
            <span className="num">start</span>
            <span>call</span>
          </span>
          <div className="wf-axis">
            {layout.ticks.map((tick) => (
              <span
                key={tick.at}
                className={`wf-tick${tick.at > 90 ? ' wf-tick-end' : ''}`}
                style={{ left: `${tick.at}%` }}
              >
                {tick.label}
              </span>
            ))}
          </div>
        </div>
        <div
          className="wf-rows"
          role="list"
          aria-label="Calls in start order"
          style={{ ['--wf-grid' as string]: `${gridStep}%` }}
          onMouseLeave={() => setHover(null)}
        >
          {layout.bars.map((bar) => (
            <WaterfallRow
              key={bar.flow.id}
              bar={bar}
              onOpen={onOpenCall}
              onHover={(x, y) => setHover({ id: bar.flow.id, x, y })}
              onLeave={() => setHover(null)}
            />
          ))}
          {layout.bars.length === 0 && <p className="empty">{status ?? 'No calls in this run yet.'}</p>}
        </div>
        {hovered && hover && <Tip bar={hovered} x={hover.x} y={hover.y} />}
      </section>
    </main>
  );
}

const WaterfallRow = memo(function WaterfallRow({
  bar,
  onOpen,
  onHover,
  onLeave,
}: {
  bar: Bar;
  onOpen: (id: string) => void;
  onHover: (x: number, y: number) => void;
  onLeave: () => void;
}) {
  const { flow } = bar;
  const tools = flow.tool_calls.map((call) => call.name).join(', ');
  const name = `${flow.model ?? flow.path}${tools ? ` → ${tools}` : ''}`;
  return (
    <div
      className={`wf-row${flow.state === 'ERROR' ? ' failed' : ''}`}
      role="listitem"
      data-flow-id={flow.id}
      onClick={() => onOpen(flow.id)}
    >
      <span className="wf-label">
        <span className="num mono muted">{bar.start > 0 ? `+${tickLabel(bar.start)}` : '0'}</span>
        <span className="ellipsis" title={name}>
          {flow.model ?? <span className="mono">{flow.path}</span>}
          {tools && <span className="tools"> {tools}</span>}
        </span>
        {flow.source !== 'upstream' && <SourceBadge source={flow.source} />}
      </span>
      <div className="wf-track">
        <button
          type="button"
          className={`wf-bar${bar.running ? ' running' : ''}`}
          data-testid="timeline-bar"
          data-flow-id={flow.id}
          aria-label={`${name}, ${bar.running ? 'running' : duration(bar.end - bar.start)}`}
          style={{ left: `${bar.left}%`, width: `${bar.width}%` }}
          onMouseMove={(event) => onHover(event.clientX, event.clientY)}
          onFocus={(event) => {
            const box = event.currentTarget.getBoundingClientRect();
            onHover(box.left, box.bottom);
          }}
          onBlur={onLeave}
          onClick={(event) => {
            event.stopPropagation();
            onOpen(flow.id);
          }}
        >
          {bar.segments.map((segment, index) => (
            <span
              key={index}
              className={`wf-seg phase-${segment.phase}`}
              style={{ width: `${segment.width}%` }}
            />
          ))}
        </button>
      </div>
    </div>
  );
});

function Tip({ bar, x, y }: { bar: Bar; x: number; y: number }) {
  const { flow } = bar;
  const usage = flow.usage;
  const left = x + 300 > window.innerWidth ? x - 300 : x + 14;
  return (
    <div className="wf-tip" role="tooltip" data-testid="timeline-tip" style={{ left, top: y + 14 }}>
      <div className="wf-tip-head">
        <strong className="ellipsis">{flow.model ?? flow.path}</strong>
        <SourceBadge source={flow.source} />
      </div>
      <div className="mono muted">{flow.id}</div>
      <dl>
        {bar.segments
          .filter((segment) => segment.phase !== 'whole')
          .map((segment) => (
            <div key={segment.phase}>
              <dt>
                <span className={`swatch phase-${segment.phase}`} aria-hidden="true" />
                {PHASES.find((phase) => phase.phase === segment.phase)?.label}
              </dt>
              <dd className="mono">{duration(segment.ms)}</dd>
            </div>
          ))}
        <div>
          <dt>total</dt>
          <dd className="mono">
            {bar.running ? `${duration(bar.end - bar.start)}, running` : duration(bar.end - bar.start)}
          </dd>
        </div>
        {usage && (
          <div>
            <dt>tokens</dt>
            <dd className="mono">
              {count(usage.input_tokens)} in · {count(usage.output_tokens)} out
            </dd>
          </div>
        )}
        <div>
          <dt>cost</dt>
          <dd className="mono">{cost(flow.cost)}</dd>
        </div>
        {flow.tool_calls.length > 0 && (
          <div>
            <dt>tools</dt>
            <dd className="mono">{flow.tool_calls.map((call) => call.name).join(', ')}</dd>
          </div>
        )}
        {bar.overlaps > 0 && (
          <div>
            <dt>parallel</dt>
            <dd>
              with {count(bar.overlaps)} other {bar.overlaps === 1 ? 'call' : 'calls'}
            </dd>
          </div>
        )}
      </dl>
    </div>
  );
}
