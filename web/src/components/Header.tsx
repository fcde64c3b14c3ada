// Top bar: the two views, the session summary and the connection.
import type { FlowJSON } from '../api/types.gen';
import { compact, count } from '../lib/format';
import type { Connection } from '../stores/live';

export type View = 'calls' | 'tapes';

interface Props {
  view: View;
  onView: (view: View) => void;
  flows: readonly FlowJSON[];
  connection: Connection;
  version: string | null;
  onHelp: () => void;
}

export function Header({ view, onView, flows, connection, version, onHelp }: Props) {
  return (
    <header className="header">
      <span className="brand">
        <span className="brand-mark" aria-hidden="true" />
        playingpack
      </span>
      <nav className="views" aria-label="Views">
        <button
          type="button"
          className="view-tab"
          data-testid="view-calls"
          aria-pressed={view === 'calls'}
          onClick={() => onView('calls')}
        >
          Calls
        </button>
        <button
          type="button"
          className="view-tab"
          data-testid="view-tapes"
          aria-pressed={view === 'tapes'}
          onClick={() => onView('tapes')}
        >
          Tapes
        </button>
      </nav>
      <Summary flows={flows} />
      <span className="spacer" />
      <button
        type="button"
        className="icon-button"
        aria-label="Keyboard shortcuts"
        title="Keyboard shortcuts (?)"
        onClick={onHelp}
      >
        ?
      </button>
      <span
        className={`connection connection-${connection}`}
        data-testid="connection"
        data-state={connection}
        role="status"
        title={version ? `playingpack ${version}` : undefined}
      >
        <span className="dot" aria-hidden="true" />
        {connection === 'open' ? 'Live' : 'Reconnecting…'}
      </span>
    </header>
  );
}

function Summary({ flows }: { flows: readonly FlowJSON[] }) {
  let tokens = 0;
  let saved = 0;
  let held = 0;
  for (const flow of flows) {
    const total = flow.usage?.total_tokens ?? 0;
    tokens += total;
    if (flow.source === 'tape') saved += total;
    if (flow.hold) held += 1;
  }
  return (
    <dl className="summary" aria-label="Session summary" data-testid="summary">
      <div>
        <dt>calls</dt>
        <dd>{count(flows.length)}</dd>
      </div>
      <div title={`${count(tokens)} tokens in this session`}>
        <dt>tokens</dt>
        <dd>{compact(tokens)}</dd>
      </div>
      <div title={`${count(saved)} tokens served from tapes instead of the API`}>
        <dt>saved</dt>
        <dd className="saved">{compact(saved)}</dd>
      </div>
      <div>
        <dt>held</dt>
        <dd className={held > 0 ? 'held-count' : undefined}>{count(held)}</dd>
      </div>
    </dl>
  );
}
