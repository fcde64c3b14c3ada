// Keep a resend's answer as a tape: for its own request, or for the original call's (so the
// next replay of that call returns it). The saved tape's key and origin are shown.
import { useState } from 'react';
import { api, type KeepFor } from '../api/http';
import type { TapeJSON } from '../api/types.gen';

interface Props {
  /** The flow whose answer is kept. */
  id: string;
  /** It was resent from another call (its answer can be kept for that call). */
  resent: boolean;
  /** Its answer is complete (a running one cannot be kept yet). */
  finished: boolean;
}

export function KeepActions({ id, resent, finished }: Props) {
  const [busy, setBusy] = useState<KeepFor | null>(null);
  const [kept, setKept] = useState<{ what: KeepFor; tape: TapeJSON } | null>(null);
  const [error, setError] = useState<string | null>(null);

  async function keep(what: KeepFor): Promise<void> {
    setBusy(what);
    setError(null);
    try {
      setKept({ what, tape: await api.keep(id, what) });
    } catch (failure) {
      setError((failure as Error).message);
    } finally {
      setBusy(null);
    }
  }

  return (
    <div className="keep-actions" role="group" aria-label="Keep this answer">
      <button
        type="button"
        disabled={!finished || busy !== null}
        title="Save this answer as the tape of this call's own request"
        onClick={() => void keep('own')}
      >
        Keep as tape for this request
      </button>
      {resent && (
        <button
          type="button"
          className="primary"
          disabled={!finished || busy !== null}
          title="Save this answer as the tape of the original call's request: its next replay returns it"
          onClick={() => void keep('parent')}
        >
          Use this answer for the original call
        </button>
      )}
      {!finished && <span className="muted">waiting for the answer…</span>}
      {kept && (
        <span className="kept" role="status">
          Kept {kept.what === 'parent' ? 'for the original call' : 'for this request'} as tape{' '}
          <code title={kept.tape.key}>{kept.tape.key}</code> · origin <b>{kept.tape.origin}</b>
        </span>
      )}
      {error && (
        <span className="inline-error" role="alert">
          {error}
        </span>
      )}
    </div>
  );
}
