// Small labels shared by the list, the detail and the held panel.

import { stateLabel } from '../lib/format';

export function SourceBadge({ source }: { source: string | null }) {
  if (!source) return null;
  return <span className={`badge source-${source}`}>{source}</span>;
}

export function StateBadge({ state, held }: { state: string; held?: boolean }) {
  return (
    <span className={`state state-${state.toLowerCase()}${held ? ' state-held' : ''}`}>
      {held ? 'HELD' : stateLabel(state)}
    </span>
  );
}

export function StatusText({ status }: { status: number | null }) {
  if (status === null) return null;
  const kind = status >= 500 ? 'bad' : status >= 400 ? 'warn' : 'ok';
  return <span className={`status status-${kind}`}>{status}</span>;
}
