// The one store mechanism of the dashboard: a value, the listeners told when it changes, and a
// React hook that reads it (or a part of it) through useSyncExternalStore.
import { useSyncExternalStore } from 'react';

// Many socket messages in a burst cause one render, not one each.
const FRAME_MS = 16;

export interface Store<T> {
  get: () => T;
  /** Replace the value and tell the listeners now (a pending `setSoon` is told with it). */
  set: (value: T) => void;
  /** Replace the value and tell the listeners within a frame, once for all changes until then. */
  setSoon: (value: T) => void;
  subscribe: (listener: () => void) => () => void;
}

/**
 * A store holding `initial`. `whileWatched` runs when the first listener subscribes; what it
 * returns runs when the last one leaves (a clock ticks only while someone shows it).
 */
export function createStore<T>(initial: T, whileWatched?: (store: Store<T>) => () => void): Store<T> {
  let value = initial;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stop: (() => void) | undefined;
  const listeners = new Set<() => void>();

  function notify(): void {
    clearTimeout(timer);
    timer = undefined;
    for (const listener of [...listeners]) listener();
  }

  const store: Store<T> = {
    get: () => value,
    set(next) {
      value = next;
      notify();
    },
    setSoon(next) {
      value = next;
      timer ??= setTimeout(notify, FRAME_MS);
    },
    subscribe(listener) {
      listeners.add(listener);
      if (listeners.size === 1 && whileWatched) stop = whileWatched(store);
      return () => {
        if (!listeners.delete(listener) || listeners.size > 0) return;
        stop?.();
        stop = undefined;
      };
    },
  };
  return store;
}

/**
 * The store's value, or the part `select` picks; the component renders again when it changes.
 * `select` must return a part of the value, or a primitive, not a new object each call.
 */
export function useStore<T>(store: Store<T>): T;
export function useStore<T, S>(store: Store<T>, select: (value: T) => S): S;
export function useStore<T, S>(store: Store<T>, select?: (value: T) => S): T | S {
  return useSyncExternalStore(store.subscribe, () => (select ? select(store.get()) : store.get()));
}
