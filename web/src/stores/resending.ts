// Resends and recordings asked for from the dashboard, with their outcome per call (pending, or
// the server's error), so the button that asked can say what happened.
import { api, type ResendBody } from '../api/http';
import { tapeKeyOf } from '../lib/compare';
import { createStore, useStore } from './store';

export interface Asking {
  pending: boolean;
  error: string | null;
}

const IDLE: Asking = { pending: false, error: null };
const asks = createStore<ReadonlyMap<string, Asking>>(new Map());

function set(ref: string, state: Asking): void {
  const next = new Map(asks.get());
  if (state === IDLE) next.delete(ref);
  else next.set(ref, state);
  asks.set(next);
}

async function ask(ref: string, start: () => Promise<{ id: string }>): Promise<string | null> {
  set(ref, { pending: true, error: null });
  try {
    const { id } = await start();
    set(ref, IDLE);
    return id;
  } catch (error) {
    set(ref, { pending: false, error: (error as Error).message });
    return null;
  }
}

/** Resends flow or tape `ref` (`tape:<key>`); resolves to the new flow's id, or null when refused. */
export function resend(ref: string, body: ResendBody): Promise<string | null> {
  const key = tapeKeyOf(ref);
  return ask(ref, () => (key === null ? api.resend(ref, body) : api.resendTape(key, body)));
}

/** Records missed flow `id` on the spot; resolves to the recording flow's id, or null when refused. */
export function record(id: string): Promise<string | null> {
  return ask(`record:${id}`, () => api.record(id));
}

export function useAsking(ref: string): Asking {
  return useStore(asks, (all) => all.get(ref) ?? IDLE);
}
