// Flow details (GET /api/flows/{id}) for the flows on screen, refetched when they change:
// at most one request per flow in flight, and one more after it when a change came meanwhile.
import { useEffect } from 'react';
import { api } from '../api/http';
import type { FlowDetailJSON, FlowJSON } from '../api/types.gen';
import { isFinished, live, useFlowText, type FlowText } from './live';
import { createStore, useStore } from './store';

export interface DetailState {
  detail: FlowDetailJSON | null;
  error: string | null;
  /** Length of the live text when the detail arrived: deltas after it extend detail.text. */
  textMark: number;
}

interface Watch {
  /** How many components show this flow. */
  count: number;
  /** The flow as listed when its detail was last asked for. */
  seen: FlowJSON | undefined;
  inflight: boolean;
  again: boolean;
}

const EMPTY: DetailState = { detail: null, error: null, textMark: 0 };

class DetailStore {
  readonly states = createStore<ReadonlyMap<string, DetailState>>(new Map());
  private watched = new Map<string, Watch>();

  constructor() {
    // A flow message or a snapshot gives a flow a new object: its detail is out of date.
    live.state.subscribe(() => {
      for (const [id, watch] of this.watched) {
        const flow = live.flow(id);
        if (flow && flow !== watch.seen) this.refresh(id, watch);
      }
    });
  }

  /** Keep the detail of `id` while the returned function has not been called. */
  watch(id: string): () => void {
    let watch = this.watched.get(id);
    if (!watch) {
      watch = { count: 0, seen: undefined, inflight: false, again: false };
      this.watched.set(id, watch);
      this.fetch(id, watch);
    }
    watch.count += 1;
    const current = watch;
    return () => {
      current.count -= 1;
      if (current.count > 0 || this.watched.get(id) !== current) return;
      this.watched.delete(id);
      this.put(id, null);
    };
  }

  private refresh(id: string, watch: Watch): void {
    if (watch.inflight) watch.again = true;
    else this.fetch(id, watch);
  }

  private fetch(id: string, watch: Watch): void {
    watch.inflight = true;
    watch.seen = live.flow(id);
    api
      .flow(id)
      .then(
        (detail) =>
          this.settle(id, watch, { detail, error: null, textMark: live.text(id)?.text.length ?? 0 }),
        (error: Error) =>
          this.settle(id, watch, { ...(this.states.get().get(id) ?? EMPTY), error: error.message }),
      )
      .finally(() => {
        watch.inflight = false;
        if (watch.again && this.watched.get(id) === watch) {
          watch.again = false;
          this.fetch(id, watch);
        }
      });
  }

  private settle(id: string, watch: Watch, state: DetailState): void {
    if (this.watched.get(id) === watch) this.put(id, state);
  }

  private put(id: string, state: DetailState | null): void {
    const next = new Map(this.states.get());
    if (state) next.set(id, state);
    else next.delete(id);
    this.states.set(next);
  }
}

export const details = new DetailStore();

export function useFlowDetail(id: string | null): DetailState {
  useEffect(() => (id ? details.watch(id) : undefined), [id]);
  return useStore(details.states, (states) => (id ? states.get(id) : undefined) ?? EMPTY);
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
  if (flow.hold || (!streamed?.fromStart && detail.state === 'REPLAY'))
    return fetched.length >= live.length ? fetched : live;
  // An answer that does not stream (a JSON body) sends no deltas: its detail has the text.
  if (streamed?.fromStart) return live !== '' || detail.streamed ? live : fetched;
  return fetched + live.slice(state.textMark);
}

export function useAnswerText(flow: FlowJSON): { text: string; state: DetailState } {
  const state = useFlowDetail(flow.id);
  const streamed = useFlowText(flow.id);
  return { text: answerText(flow, state, streamed), state };
}
