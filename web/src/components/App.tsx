// The page: header and settings, then the calls (held panel, list, detail) or the tapes.
import { useEffect, useEffectEvent, useMemo, useRef, useState } from 'react';
import type { FlowJSON } from '../api/types.gen';
import { isShortcut } from '../lib/keyboard';
import { decide } from '../stores/decisions';
import { useLive } from '../stores/live';
import { FlowDetail, type Tab } from './FlowDetail';
import { FlowList, matches, type Filter } from './FlowList';
import { Header, type View } from './Header';
import { HeldPanel } from './HeldPanel';
import { HelpDialog } from './HelpDialog';
import { MockDialog } from './MockDialog';
import { SettingsBar } from './SettingsBar';
import { TapeBrowser } from './TapeBrowser';

export function App() {
  const { connection, synced, version, settings, flows } = useLive();
  const [view, setView] = useState<View>('calls');
  const [selectedId, setSelectedId] = useState<string | null>(null);
  const [filter, setFilter] = useState<Filter>({ text: '', source: '' });
  const [tab, setTab] = useState<Tab>('Answer');
  const [mockId, setMockId] = useState<string | null>(null);
  const [help, setHelp] = useState(false);
  const filterRef = useRef<HTMLInputElement>(null);

  const visible = useMemo(() => flows.filter((flow) => matches(flow, filter)), [flows, filter]);
  const held = useMemo(
    () =>
      flows.filter((flow) => flow.hold !== null).sort((a, b) => a.hold!.since.localeCompare(b.hold!.since)),
    [flows],
  );
  const selected = selectedId ? flows.find((flow) => flow.id === selectedId) : undefined;
  const mocked = mockId ? flows.find((flow) => flow.id === mockId) : undefined;

  // Installed once; it sees the latest values.
  const onKey = useEffectEvent((event: KeyboardEvent): void => {
    if (!isShortcut(event)) return;
    if (event.key === '?') {
      event.preventDefault();
      setHelp(true);
      return;
    }
    if (view !== 'calls') return;
    const step =
      event.key === 'ArrowDown' || event.key === 'j'
        ? 1
        : event.key === 'ArrowUp' || event.key === 'k'
          ? -1
          : 0;
    if (step) {
      event.preventDefault();
      const index = visible.findIndex((flow) => flow.id === selectedId);
      const next = index < 0 ? 0 : Math.max(0, Math.min(visible.length - 1, index + step));
      const flow = visible[next];
      if (flow) setSelectedId(flow.id);
    } else if (event.key === '/') {
      event.preventDefault();
      filterRef.current?.focus();
    } else if (event.key === 'a' && selected?.hold) {
      event.preventDefault();
      void decide(selected.id, { action: 'allow' });
    } else if (event.key === 'm' && selected?.hold) {
      event.preventDefault();
      setMockId(selected.id);
    }
  });

  useEffect(() => {
    const listener = (event: KeyboardEvent) => onKey(event);
    window.addEventListener('keydown', listener);
    return () => window.removeEventListener('keydown', listener);
  }, []);

  return (
    <div className="app">
      <Header
        view={view}
        onView={setView}
        flows={flows}
        connection={connection}
        version={version}
        onHelp={() => setHelp(true)}
      />
      <SettingsBar settings={settings} />
      <main className="split calls" hidden={view !== 'calls'}>
        <div className="left">
          <HeldPanel
            held={held}
            pause={settings?.pause ?? null}
            pauseRequests={settings?.pause_requests ?? false}
            selectedId={selectedId}
            onSelect={setSelectedId}
            onMock={setMockId}
          />
          <FlowList
            flows={visible}
            total={flows.length}
            filter={filter}
            onFilter={setFilter}
            selectedId={selectedId}
            onSelect={setSelectedId}
            filterRef={filterRef}
            synced={synced}
          />
        </div>
        {selected ? (
          <FlowDetail key={selected.id} flow={selected} tab={tab} onTab={setTab} onMock={setMockId} />
        ) : (
          <EmptyDetail flows={flows} />
        )}
      </main>
      {view === 'tapes' && (
        <main className="tapes-view">
          <TapeBrowser />
        </main>
      )}
      {mocked && (
        <MockDialog
          key={mocked.id}
          flow={mocked}
          held={mocked.hold !== null}
          onClose={() => setMockId(null)}
        />
      )}
      {help && <HelpDialog onClose={() => setHelp(false)} />}
    </div>
  );
}

function EmptyDetail({ flows }: { flows: readonly FlowJSON[] }) {
  return (
    <section className="detail empty-detail" aria-label="Call detail">
      <div className="empty">
        <p>
          {flows.length
            ? 'Select a call to see its request, answer, chunks and headers.'
            : 'Waiting for calls.'}
        </p>
        <p className="muted">
          Point your agent at <code>{`${location.origin}/v1`}</code> · <kbd>↑</kbd> <kbd>↓</kbd> to move ·{' '}
          <kbd>?</kbd> for shortcuts
        </p>
      </div>
    </section>
  );
}
