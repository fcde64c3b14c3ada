// Two calls side by side (A and B): the request's changes, the answers with the words marked,
// the tool calls, the figures; and the buttons that keep B's answer. Read again as either side
// changes, so a resend fills in as it runs.
import { isMiss, tapeKeyOf } from '../lib/compare';
import { useDiff, useResends } from '../stores/diffs';
import { isFinished, useFlowText, useLive } from '../stores/live';
import { AnswerColumns, Figures, RequestChanges, Row, SideHead } from './CompareParts';
import { KeepActions } from './KeepActions';
import { RecordMiss } from './RecordMiss';

export interface Comparing {
  a: string;
  /** null: the newest resend of `a`. */
  b: string | null;
}

interface Props extends Comparing {
  onPick: (b: string) => void;
  onClose: () => void;
  /** Open a side: select its call, or show its tape. */
  onOpen: (ref: string) => void;
}

export function CompareView({ a, b, onPick, onClose, onOpen }: Props) {
  const resends = useResends(a);
  const picked = b ?? resends.at(-1)?.id ?? null;
  const { diff, error } = useDiff(a, picked);
  const { flows } = useLive();
  const flowOf = (ref: string | null) =>
    ref !== null && tapeKeyOf(ref) === null ? flows.find((flow) => flow.id === ref) : undefined;
  const flowA = flowOf(a);
  const flowB = flowOf(picked);
  const runningA = flowA !== undefined && !isFinished(flowA.state);
  const runningB = flowB !== undefined && !isFinished(flowB.state);
  const streamed = useFlowText(runningB ? picked : null);
  // Several resends of A: B is picked among them.
  const pickable = resends.length > 1 && resends.some((flow) => flow.id === picked);

  return (
    <section className="compare" aria-labelledby="compare-title" data-testid="compare">
      <div className="compare-head">
        <h2 id="compare-title">Compare</h2>
        {pickable && (
          <label className="field">
            <span>Resend</span>
            <select
              aria-label="Resend to compare"
              value={picked ?? ''}
              onChange={(event) => onPick(event.target.value)}
            >
              {resends.map((flow, index) => (
                <option key={flow.id} value={flow.id}>
                  #{index + 1} {flow.id}
                  {flow.edited ? ' · edited' : ''}
                  {flow.resend ? ` · ${flow.resend}` : ''}
                </option>
              ))}
            </select>
          </label>
        )}
        <span className="spacer" />
        <span className="muted hint">
          <kbd>Esc</kbd> close
        </span>
        <button type="button" onClick={onClose}>
          Close
        </button>
      </div>
      {picked === null && <p className="empty">This call has not been resent yet.</p>}
      {error && (
        <p className="inline-error" role="alert">
          {error}
        </p>
      )}
      {picked !== null && !diff && !error && <p className="empty">Loading…</p>}
      {diff && (
        <div className="compare-body">
          <Row
            a={<SideHead side="A" info={diff.a} running={runningA} onOpen={onOpen} />}
            b={<SideHead side="B" info={diff.b} running={runningB} onOpen={onOpen} />}
          />
          <Row
            a={flowA && isMiss(flowA) && <RecordMiss flow={flowA} onOpen={onOpen} />}
            b={
              diff.b.kind === 'flow' && (
                <KeepActions id={diff.b.ref} resent={diff.b.parent !== null} finished={!runningB} />
              )
            }
          />
          <RequestChanges request={diff.request} />
          <AnswerColumns diff={diff} streaming={runningB ? (streamed?.text ?? '') : null} />
          <Figures diff={diff} />
        </div>
      )}
    </section>
  );
}
