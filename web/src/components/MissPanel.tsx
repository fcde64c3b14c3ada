// A replay-only miss in the call's detail: how its request differs from the nearest tape's,
// and the button that records it on the spot.
import type { FlowJSON } from '../api/types.gen';
import { refLabel } from '../lib/compare';
import { useDiff } from '../stores/diffs';
import type { CallActions } from './CallActions';
import { RequestChanges } from './CompareParts';
import { RecordMiss } from './RecordMiss';

export function MissPanel({ flow, actions }: { flow: FlowJSON; actions: CallActions }) {
  const { diff, error, code } = useDiff(flow.id, 'nearest');
  return (
    <section className="miss-panel" aria-labelledby={`miss-${flow.id}`}>
      <h3 id={`miss-${flow.id}`}>No tape for this request (replay-only)</h3>
      <RecordMiss flow={flow} onOpen={actions.open} />
      {code === 'no_nearest_tape' ? (
        <p className="muted">No recorded tape is near it.</p>
      ) : error ? (
        <p className="inline-error" role="alert">
          {error}
        </p>
      ) : diff ? (
        <>
          <p className="nearest">
            The nearest tape is <code title={diff.b.ref}>{refLabel(diff.b.ref)}</code>{' '}
            <button type="button" onClick={() => actions.compare(flow.id, 'nearest')}>
              Compare with the nearest tape
            </button>
          </p>
          <RequestChanges request={diff.request} sides={['this call', 'the tape']} />
        </>
      ) : (
        <p className="muted">Looking for the nearest tape…</p>
      )}
    </section>
  );
}
