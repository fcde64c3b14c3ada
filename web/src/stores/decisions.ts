// Decisions sent for held flows, with their outcome per flow (pending, or the server's error).
import { useSyncExternalStore } from 'react';
import { api, type Decision } from '../api/http';

export interface DecisionState {
  pending: boolean;
  error: string | null;
}

const IDLE: DecisionState = { pending: false, error: null };
const states = new Map<string, DecisionState>();
const listeners = new Set<() => void>();

function set(id: string, state: DecisionState): void {
  if (state === IDLE) states.delete(id);
  else states.set(id, state);
  for (const listener of [...listeners]) listener();
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
  return useSyncExternalStore(
    (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    () => states.get(id) ?? IDLE,
  );
}
