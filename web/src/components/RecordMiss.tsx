// A replay-only miss: "Record this call" forwards its request to the upstream once and saves
// the tape; then the recording call, and once it completes, the tape it recorded.
import type { FlowJSON } from '../api/types.gen';
import { isFinished, useLive } from '../stores/live';
import { useResends } from '../stores/diffs';
import { record, useAsking } from '../stores/resending';

export function RecordMiss({ flow, onOpen }: { flow: FlowJSON; onOpen?: (id: string) => void }) {
  const asking = useAsking(`record:${flow.id}`);
  const recordings = useResends(flow.id).filter((each) => each.resend === 'record');
  const { flows } = useLive();
  const latest = recordings.at(-1);
  // The live window's copy is the freshest.
  const recording = latest ? (flows.find((each) => each.id === latest.id) ?? latest) : undefined;
  const done = recording !== undefined && isFinished(recording.state);
  const recorded = done && recording.state === 'COMPLETE' && (recording.status ?? 0) < 300;

  return (
    <div className="record-miss" role="group" aria-label="Record this call">
      <button
        type="button"
        className="primary"
        disabled={asking.pending || (recording !== undefined && !done)}
        title="Forward this request to the upstream once and save its answer as the tape"
        onClick={() => void record(flow.id)}
      >
        {recording && !done ? 'Recording…' : 'Record this call'}
      </button>
      {recording && (
        <span role="status">
          {!done ? 'Recording as call ' : recorded ? 'Recorded by call ' : 'The recording call '}
          {onOpen ? (
            <button type="button" className="link mono" onClick={() => onOpen(recording.id)}>
              {recording.id}
            </button>
          ) : (
            <code>{recording.id}</code>
          )}
          {recorded && (
            <>
              : the tape <code>{recording.tape}</code> was recorded
            </>
          )}
          {done && !recorded && (
            <> failed{recording.error ? `: ${recording.error}` : ''}; no tape was saved</>
          )}
        </span>
      )}
      {asking.error && (
        <span className="inline-error" role="alert">
          {asking.error}
        </span>
      )}
    </div>
  );
}
