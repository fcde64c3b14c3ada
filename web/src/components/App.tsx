// The page: header and settings, then the picked view of the picked run: its calls (held panel,
// list, detail), its threads, its timeline; or the tapes.
import { useEffect, useEffectEvent, useMemo, useRef, useState } from 'react';
import type { FlowQuery } from '../api/http';
import type { FlowJSON } from '../api/types.gen';
import { tapeKeyOf } from '../lib/compare';
import { isShortcut } from '../lib/keyboard';
import { decide } from '../stores/decisions';
import { useFlowDetail } from '../stores/details';
import { useRunCalls, useRuns } from '../stores/history';
import { live, useLive } from '../stores/live';
import { resend } from '../stores/resending';
import { search, useSearch } from '../stores/search';
import type { CallActions } from './CallActions';
import { CompareView, type Comparing } from './CompareView';
import { FlowDetail, type Tab } from './FlowDetail';
import { FlowList, matches, type Filter } from './FlowList';
import { Header, type View } from './Header';
import { HeldPanel } from './HeldPanel';
import { HelpDialog } from './HelpDialog';
import { MockDialog } from './MockDialog';
import { FlowResendDialog } from './Resending';
import { PastRunNotice } from './RunPicker';
import { SettingsBar } from './SettingsBar';
import { TapeBrowser } from './TapeBrowser';
import { ThreadView } from './ThreadView';
import { Timeline } from './Timeline';

export function App() {
  const { connection, synced, version, settings, flows } = useLive();
  const [view, setView] = useState<View>('calls');
  // The picked past run; null for the live run.
  const [pastId, setPastId] = useState<string | null>(null);
  const [selectedId, setSelectedId] = useState<string | null>(null);
  const [threadId, setThreadId] = useState<string | null>(null);
  const [filter, setFilter] = useState<Filter>({ text: '', source: '' });
  const [tab, setTab] = useState<Tab>('Answer');
  const [mockId, setMockId] = useState<string | null>(null);
  const [help, setHelp] = useState(false);
  // The call in the resend editor; the two sides in the compare view; the call waiting for the
  // one to compare it with (picked next in the list); the tape to show in the tape browser.
  const [editId, setEditId] = useState<string | null>(null);
  const [comparing, setComparing] = useState<Comparing | null>(null);
  const [picking, setPicking] = useState<string | null>(null);
  const [tapeKey, setTapeKey] = useState<string | null>(null);
  const filterRef = useRef<HTMLInputElement>(null);

  const runs = useRuns().value;
  const liveRun = runs?.find((run) => run.live) ?? null;
  const pastRun = pastId ? (runs?.find((run) => run.id === pastId) ?? null) : null;
  const past = pastId !== null;

  // The live window, unless the filter has words or a past run is picked: then the history.
  const searching = past || filter.text.trim() !== '';
  // Past the end of the live window the list goes on with the live run's older calls, read from
  // the history: those started before the oldest call on the page. Not after a Clear, which
  // asked for them to leave the list.
  const [olderThan, setOlderThan] = useState<string | null>(null);
  const older = !searching && olderThan !== null && live.clearedAt === null;
  const query: FlowQuery | null = searching
    ? { q: filter.text, run: pastId ?? liveRun?.id, source: filter.source }
    : older
      ? { run: liveRun?.id, source: filter.source, until: olderThan ?? undefined }
      : null;
  const found = useSearch(query, !past && !older);
  const shown = useMemo(() => {
    if (!searching) {
      const current = flows.filter((flow) => matches(flow, filter));
      if (!older) return current;
      const onPage = new Set(flows.map((flow) => flow.id));
      return [...current, ...found.flows.filter((flow) => !onPage.has(flow.id))];
    }
    if (past) return found.flows;
    // A call of the live run still changing is shown as it is now.
    const byId = new Map(flows.map((flow) => [flow.id, flow]));
    return found.flows.map((flow) => byId.get(flow.id) ?? flow);
  }, [searching, past, older, flows, filter, found.flows]);
  // The calls of the live run that are not on the page: older ones the history still has.
  const behind = liveRun !== null && live.clearedAt === null && liveRun.calls > flows.length;
  const oldest = flows.at(-1)?.started_at ?? null;

  const held = useMemo(() => flows.filter((flow) => flow.hold !== null), [flows]);
  const known = selectedId
    ? (flows.find((flow) => flow.id === selectedId) ?? shown.find((flow) => flow.id === selectedId))
    : undefined;
  // A call opened from a thread or the timeline may be in neither list: its detail is fetched.
  const fetched = useFlowDetail(known ? null : selectedId).detail;
  const selected: FlowJSON | undefined = known ?? fetched ?? undefined;
  const mocked = mockId ? flows.find((flow) => flow.id === mockId) : undefined;

  // The live run's timeline is the live window, so running calls grow; a past run's is read once.
  const pastCalls = useRunCalls(view === 'timeline' ? pastId : null);
  const timelineFlows = past ? (pastCalls.value ?? []) : flows;
  const timelineStatus = past ? (pastCalls.error ?? (pastCalls.loading ? 'Loading…' : null)) : null;

  function pickRun(id: string | null): void {
    setPastId(id);
    setOlderThan(null);
    setThreadId(null);
    setSelectedId(null);
  }

  function openCall(id: string): void {
    setSelectedId(id);
    setComparing(null);
    setView('calls');
  }

  function openCompare(a: string, b: string | null): void {
    setPicking(null);
    setComparing({ a, b });
    setView('calls');
  }

  /** Select a flow, or show a tape (`tape:<key>`) in the tape browser. */
  function openRef(ref: string): void {
    const key = tapeKeyOf(ref);
    if (key === null) return openCall(ref);
    setTapeKey(key);
    setView('tapes');
  }

  // A click selects; a Ctrl/⌘-click, or a click after "Compare with…", compares.
  function selectRow(id: string, compare: boolean): void {
    const other = picking ?? (compare ? selectedId : null);
    if (other !== null && other !== id) return openCompare(other, id);
    setPicking(null);
    setSelectedId(id);
  }

  const actions: CallActions = {
    edit: setEditId,
    resendNow: (ref) =>
      void resend(ref, { to: 'upstream' }).then((id) => {
        if (id !== null) openCompare(ref, id);
      }),
    compare: openCompare,
    pickCompare: setPicking,
    open: openRef,
  };

  // Installed once; it sees the latest values.
  const onKey = useEffectEvent((event: KeyboardEvent): void => {
    if (!isShortcut(event)) return;
    if (event.key === '?') {
      event.preventDefault();
      setHelp(true);
      return;
    }
    if (view !== 'calls') return;
    if (comparing) {
      if (event.key === 'Escape') {
        event.preventDefault();
        setComparing(null);
      }
      return;
    }
    if (event.key === 'Escape' && picking) {
      event.preventDefault();
      setPicking(null);
      return;
    }
    const step =
      event.key === 'ArrowDown' || event.key === 'j'
        ? 1
        : event.key === 'ArrowUp' || event.key === 'k'
          ? -1
          : 0;
    if (step) {
      event.preventDefault();
      const index = shown.findIndex((flow) => flow.id === selectedId);
      const next = index < 0 ? 0 : Math.max(0, Math.min(shown.length - 1, index + step));
      const flow = shown[next];
      if (flow) setSelectedId(flow.id);
      if (next >= shown.length - 1) search.more();
    } else if (event.key === '/') {
      event.preventDefault();
      filterRef.current?.focus();
    } else if (event.key === 'a' && selected?.hold) {
      event.preventDefault();
      void decide(selected.id, { action: 'allow' });
    } else if (event.key === 'm' && selected?.hold) {
      event.preventDefault();
      setMockId(selected.id);
    } else if (event.key === 'e' && selected) {
      event.preventDefault();
      setEditId(selected.id);
    } else if (event.key === 'r' && selected) {
      event.preventDefault();
      actions.resendNow(selected.id);
    }
  });

  useEffect(() => {
    const listener = (event: KeyboardEvent) => onKey(event);
    window.addEventListener('keydown', listener);
    return () => window.removeEventListener('keydown', listener);
  }, []);

  // Of how many calls the list shows some: the run's, when it is read from the history.
  const total = searching || older ? ((past ? pastRun : liveRun)?.calls ?? shown.length) : flows.length;
  return (
    <div className="app">
      <Header
        view={view}
        onView={setView}
        flows={flows}
        runs={runs}
        run={past ? pastRun : liveRun}
        past={past}
        onRun={pickRun}
        connection={connection}
        version={version}
        onHelp={() => setHelp(true)}
      />
      <SettingsBar settings={settings}>
        {past && <PastRunNotice run={pastRun} onLive={() => pickRun(null)} />}
      </SettingsBar>
      {view === 'calls' && comparing && (
        <main className="compare-view">
          <CompareView
            key={comparing.a}
            a={comparing.a}
            b={comparing.b}
            onPick={(b) => setComparing({ a: comparing.a, b })}
            onClose={() => setComparing(null)}
            onOpen={openRef}
          />
        </main>
      )}
      <main className="split calls" hidden={view !== 'calls' || comparing !== null}>
        <div className="left">
          {!past && (
            <HeldPanel
              held={held}
              pause={settings?.pause ?? null}
              pauseRequests={settings?.pause_requests ?? false}
              selectedId={selectedId}
              onSelect={(id) => selectRow(id, false)}
              onMock={setMockId}
            />
          )}
          {picking && (
            <p className="picking" role="status">
              Click the call to compare with <code>{picking}</code> · <kbd>Esc</kbd> cancels
            </p>
          )}
          <FlowList
            flows={shown}
            total={Math.max(total, shown.length)}
            filter={filter}
            onFilter={setFilter}
            selectedId={selectedId}
            onSelect={selectRow}
            filterRef={filterRef}
            synced={synced}
            onNearEnd={
              searching || older
                ? () => search.more()
                : behind && oldest !== null
                  ? () => setOlderThan(oldest)
                  : undefined
            }
          />
          {searching && found.error && (
            <p className="inline-error search-error" role="alert">
              Search failed: {found.error}
            </p>
          )}
        </div>
        {selected ? (
          <FlowDetail
            key={selected.id}
            flow={selected}
            tab={tab}
            onTab={setTab}
            onMock={setMockId}
            actions={actions}
          />
        ) : (
          <EmptyDetail flows={flows} />
        )}
      </main>
      <ThreadView
        run={pastId}
        shown={view === 'threads'}
        selectedId={threadId}
        onSelect={setThreadId}
        onOpenCall={openCall}
      />
      <Timeline
        flows={timelineFlows}
        shown={view === 'timeline'}
        status={timelineStatus}
        onOpenCall={openCall}
      />
      {view === 'tapes' && (
        <main className="tapes-view">
          <TapeBrowser initialKey={tapeKey} onCompare={openCompare} />
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
      {editId && (
        <FlowResendDialog
          key={editId}
          id={editId}
          onClose={() => setEditId(null)}
          onSent={(id) => openCompare(editId, id)}
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
