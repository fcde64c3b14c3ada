// Flow details (GET /api/flows/{id}) for the flows on screen, refetched when they change:
// at most one request per flow in flight, and one more after it when a change came meanwhile.
import { useCallback, useSyncExternalStore } from 'react';
import { api } from '../api/http';
import type { FlowDetailJSON, FlowJSON } from '../api/types.gen';
import { isFinished, live, useFlowText, type FlowText } from './live';

export interface DetailState {
  detail: FlowDetailJSON | null;
  error: string | null;
  /** Length of the live text when the detail arrived: deltas after it extend detail.text. */
  textMark: number;
}

interface Entry {
  state: DetailState;
  listeners: Set<() => void>;
  inflight: boolean;
  again: boolean;
}

const EMPTY: DetailState = { detail: null, error: null, textMark: 0 };

class DetailStore {
  private entries = new Map<string, Entry>();

  constructor() {
    live.onFlow((flow) => this.refresh(flow.id));
    live.onSnapshot(() => {
      for (const id of this.entries.keys()) if (live.flow(id)) this.refresh(id);
    });
  }

  subscribe(id: string, listener: () => void): () => void {
    let entry = this.entries.get(id);
    if (!entry) {
      entry = { state: EMPTY, listeners: new Set(), inflight: false, again: false };
      this.entries.set(id, entry);
      this.fetch(id, entry);
    }
    entry.listeners.add(listener);
    const current = entry;
    return () => {
      current.listeners.delete(listener);
      if (current.listeners.size === 0 && this.entries.get(id) === current) this.entries.delete(id);
    };
  }

  get(id: string): DetailState {
    return this.entries.get(id)?.state ?? EMPTY;
  }

  /** Fetch again if someone is looking at this flow. */
  refresh(id: string): void {
    const entry = this.entries.get(id);
    if (!entry) return;
    if (entry.inflight) entry.again = true;
    else this.fetch(id, entry);
  }

  private fetch(id: string, entry: Entry): void {
    entry.inflight = true;
    api.flow(id).then(
      (detail) => this.settle(entry, { detail, error: null, textMark: live.text(id)?.text.length ?? 0 }),
      (error: Error) => this.settle(entry, { ...entry.state, error: error.message }),
    ).finally(() => {
      entry.inflight = false;
      if (entry.again && this.entries.get(id) === entry) {
        entry.again = false;
        this.fetch(id, entry);
      }
    });
  }

  private settle(entry: Entry, state: DetailState): void {
    entry.state = state;
    for (const listener of [...entry.listeners]) listener();
  }
}

export const details = new DetailStore();

export function useFlowDetail(id: string | null): DetailState {
  const subscribe = useCallback(
    (listener: () => void) => (id ? details.subscribe(id, listener) : () => {}),
    [id],
  );
  return useSyncExternalStore(subscribe, () => (id ? details.get(id) : EMPTY));
}

/**
 * The answer's text so far, from the detail and the live deltas. A flow seen from its start
 * shows its deltas, growing as they arrive; one already running when it was fetched extends
 * detail.text with the deltas that came after; once finished, the detail is authoritative.
 */
export function answerText(flow: FlowJSON, state: DetailState, streamed: FlowText | undefined): string {
  const detail = state.detail;
  if (!detail) return streamed?.text ?? '';
  const fetched = detail.text ?? '';
  if (isFinished(detail.state)) return fetched;
  const live = streamed?.text ?? '';
  // Held: deltas pause and the detail has the answer so far. Replaying: the detail already has
  // the whole tape's text, so later deltas must not be appended to it.
  if (flow.hold || (!streamed?.fromStart && detail.state === 'REPLAY')) return fetched.length >= live.length ? fetched : live;
  // An answer that does not stream (a JSON body) sends no deltas: its detail has the text.
  if (streamed?.fromStart) return live !== '' || detail.streamed ? live : fetched;
  return fetched + live.slice(state.textMark);
}

export function useAnswerText(flow: FlowJSON): { text: string; state: DetailState } {
  const state = useFlowDetail(flow.id);
  const streamed = useFlowText(flow.id);
  return { text: answerText(flow, state, streamed), state };
}
