// Where a tape's answer came from (recorded, or a person kept a resend, an edit or a mock), and
// resending a tape.
import { useState } from 'react';
import type { ReadableTape } from '../api/http';
import { tapeRef } from '../lib/compare';
import { dateTime } from '../lib/format';
import { resend, useAsking } from '../stores/resending';
import { ResendDialog } from './ResendDialog';

const ORIGINS: Record<string, string> = {
  resent: 'A person kept the answer of a resend',
  edited: 'A person kept the answer of an edited request',
  mock: 'A person kept a mock as the answer',
};

/** A badge for an answer a person picked; nothing for a recording. */
export function OriginBadge({ origin }: { origin: string }) {
  if (origin === 'recorded') return null;
  return (
    <span className={`badge origin-${origin}`} title={ORIGINS[origin]}>
      {origin}
    </span>
  );
}

interface ProvenanceProps {
  origin: string;
  parent: string | null;
  kept: string | null;
  known: (key: string) => boolean;
  onSelect: (key: string) => void;
}

export function Provenance({ origin, parent, kept, known, onSelect }: ProvenanceProps) {
  if (origin === 'recorded' && !parent && !kept) return null;
  return (
    <span className="provenance">
      <OriginBadge origin={origin} />
      {parent && (
        <span>
          from{' '}
          {known(parent) ? (
            <button type="button" className="link mono" title={parent} onClick={() => onSelect(parent)}>
              {short(parent)}
            </button>
          ) : (
            <code title={parent}>{short(parent)}</code>
          )}
        </span>
      )}
      {kept && <span className="muted">kept {dateTime(kept)}</span>}
    </span>
  );
}

function short(key: string): string {
  const slash = key.lastIndexOf('/');
  const name = key.slice(slash + 1);
  return key.slice(0, slash + 1) + (name.length > 14 ? `${name.slice(0, 12)}…` : name);
}

/** Resend the tape's request to the upstream, as it is or edited; then compare. */
export function TapeResend({
  tapeKey,
  tape,
  onResent,
}: {
  tapeKey: string;
  tape: ReadableTape;
  onResent: (id: string) => void;
}) {
  const ref = tapeRef(tapeKey);
  const asking = useAsking(ref);
  const [editing, setEditing] = useState(false);
  const meta = (tape.meta ?? {}) as Record<string, unknown>;
  const request = ((tape.request ?? {}) as Record<string, unknown>).body ?? null;
  return (
    <div className="action-bar" role="group" aria-label="Resend this tape">
      <button
        type="button"
        disabled={asking.pending}
        title="Send this tape's request to the upstream again, then compare the answers"
        onClick={() =>
          void resend(ref, { to: 'upstream' }).then((id) => {
            if (id !== null) onResent(id);
          })
        }
      >
        Resend
      </button>
      <button type="button" onClick={() => setEditing(true)}>
        Edit and resend…
      </button>
      {asking.error && !editing && (
        <span className="inline-error" role="alert">
          {asking.error}
        </span>
      )}
      {editing && (
        <ResendDialog
          source={{
            ref,
            path: typeof meta.endpoint === 'string' ? meta.endpoint : '/v1/chat/completions',
            request,
            model: typeof meta.model === 'string' ? meta.model : null,
          }}
          onClose={() => setEditing(false)}
          onSent={onResent}
        />
      )}
    </div>
  );
}
