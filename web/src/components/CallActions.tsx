// What can be done with the selected call: edit and resend it, resend it as it is, compare it;
// where it was resent from and its resends; for a resend, keeping its answer.
import type { FlowJSON } from '../api/types.gen';
import { isMiss, refLabel, tapeKeyOf } from '../lib/compare';
import { useResends } from '../stores/diffs';
import { isFinished } from '../stores/live';
import { useAsking } from '../stores/resending';
import { KeepActions } from './KeepActions';
import { MissPanel } from './MissPanel';

/** The App's answers to the call's actions. */
export interface CallActions {
  /** Open the resend editor on flow `id`. */
  edit: (id: string) => void;
  /** Resend `ref` unchanged to the upstream, then compare the two. */
  resendNow: (ref: string) => void;
  /** Open the compare view; `b` null for the newest resend of `a`. */
  compare: (a: string, b: string | null) => void;
  /** Let the next call clicked in the list be compared with `a`. */
  pickCompare: (a: string) => void;
  /** Select a flow, or show a tape (`tape:<key>`). */
  open: (ref: string) => void;
}

/** The buttons, at the end of the detail's title line. */
export function ActionBar({ flow, actions }: { flow: FlowJSON; actions: CallActions }) {
  const asking = useAsking(flow.id);
  return (
    <div className="action-bar" role="group" aria-label="Resend and compare">
      <button type="button" onClick={() => actions.edit(flow.id)}>
        Edit and resend… <kbd>e</kbd>
      </button>
      <button
        type="button"
        disabled={asking.pending}
        title="Send this request again, unchanged, to the upstream"
        onClick={() => actions.resendNow(flow.id)}
      >
        Resend <kbd>r</kbd>
      </button>
      <button
        type="button"
        title="Compare with another call: click it in the list next (or Ctrl/⌘-click it)"
        onClick={() => actions.pickCompare(flow.id)}
      >
        Compare…
      </button>
      {asking.error && (
        <span className="inline-error" role="alert">
          {asking.error}
        </span>
      )}
    </div>
  );
}

/** Where the call was resent from, its resends, and for a miss, its nearest tape. */
export function Lineage({ flow, actions }: { flow: FlowJSON; actions: CallActions }) {
  const resends = useResends(flow.id);
  if (!flow.parent && resends.length === 0 && !isMiss(flow)) return null;
  return (
    <div className="call-actions">
      {flow.parent && <ResentFrom flow={flow} actions={actions} />}
      {resends.length > 0 && (
        <div className="resends" role="group" aria-label="Resends">
          <span className="muted">Resends:</span>
          {resends.map((each) => (
            <button
              key={each.id}
              type="button"
              className="link mono"
              title={`Compare with ${each.id}`}
              onClick={() => actions.compare(flow.id, each.id)}
            >
              ↻ {each.id}
              {each.edited ? ' (edited)' : ''}
            </button>
          ))}
        </div>
      )}
      {isMiss(flow) && <MissPanel flow={flow} actions={actions} />}
    </div>
  );
}

const HOW: Record<string, string> = {
  upstream: 'to the upstream',
  tape: 'to the tapes',
  record: 'to record it',
};

function ResentFrom({ flow, actions }: { flow: FlowJSON; actions: CallActions }) {
  const parent = flow.parent!;
  const tape = tapeKeyOf(parent) !== null;
  return (
    <div className="resent-from">
      <span>
        ↻ {flow.edited ? 'Edited and resent' : 'Resent'} {flow.resend ? HOW[flow.resend] : ''} from{' '}
        <button
          type="button"
          className="link mono"
          title={tape ? 'Show the tape' : 'Select the original call'}
          onClick={() => actions.open(parent)}
        >
          {refLabel(parent)}
        </button>{' '}
        ·{' '}
        <button type="button" className="link" onClick={() => actions.compare(parent, flow.id)}>
          compare with it
        </button>
      </span>
      {flow.resend !== 'record' && <KeepActions id={flow.id} resent finished={isFinished(flow.state)} />}
    </div>
  );
}
