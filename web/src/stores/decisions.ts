// Decisions sent for held flows, with their outcome per flow (pending, or the server's error).
import { api, type Decision } from '../api/http';
import { createStore, useStore } from './store';

export interface DecisionState {
  pending: boolean;
  error: string | null;
}

const IDLE: DecisionState = { pending: false, error: null };
const decisions = createStore<ReadonlyMap<string, DecisionState>>(new Map());

function set(id: string, state: DecisionState): void {
  const next = new Map(decisions.get());
  if (state === IDLE) next.delete(id);
  else next.set(id, state);
  decisions.set(next);
}

/** Sends `decision`; resolves to the error message, or null when the server took it. */
export async function decide(id: string, decision: Decision): Promise<string | null> {
  set(id, { pending: true, error: null });
  try {
    await api.decide(id, decision);
    set(id, IDLE);
    return null;
  } catch (error) {
    const message = (error as Error).message;
    set(id, { pending: false, error: message });
    return message;
  }
}

export function useDecision(id: string): DecisionState {
  return useStore(decisions, (all) => all.get(id) ?? IDLE);
}
