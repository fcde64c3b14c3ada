// Values read from the history API (runs, threads, a run's calls), one per key, kept while
// someone shows them. A key that follows the live run is read again when calls finish: at most
// one request per key in flight, and one more after it when calls finished meanwhile.
import { useEffect } from 'react';
import { live } from './live';
import { createStore, useStore } from './store';

export interface Loaded<T> {
  value: T | null;
  /** The server's message when the last read failed (the value, if any, is from before). */
  error: string | null;
  /** The server's error code (`history_off`, say), when it gave one. */
  code: string | null;
  loading: boolean;
}

interface Watch {
  count: number;
  follows: number;
  inflight: boolean;
  again: boolean;
}

const NOTHING: Loaded<never> = { value: null, error: null, code: null, loading: true };
const NO_KEY: Loaded<never> = { ...NOTHING, loading: false };

export class Resource<T> {
  readonly states = createStore<ReadonlyMap<string, Loaded<T>>>(new Map());
  private watched = new Map<string, Watch>();

  constructor(private readonly load: (key: string) => Promise<T>) {
    live.finished.subscribe(() => {
      for (const [key, watch] of this.watched) if (watch.follows > 0) this.refresh(key, watch);
    });
  }

  /** Keep `key` loaded (and, when `follow`, current with the live run) until the returned function runs. */
  watch(key: string, follow: boolean): () => void {
    let watch = this.watched.get(key);
    if (!watch) {
      watch = { count: 0, follows: 0, inflight: false, again: false };
      this.watched.set(key, watch);
      this.fetch(key, watch);
    }
    watch.count += 1;
    if (follow) watch.follows += 1;
    const current = watch;
    return () => {
      current.count -= 1;
      if (follow) current.follows -= 1;
      if (current.count === 0 && this.watched.get(key) === current) this.watched.delete(key);
    };
  }

  /** Read every shown key again now. */
  reload(): void {
    for (const [key, watch] of this.watched) this.refresh(key, watch);
  }

  private refresh(key: string, watch: Watch): void {
    if (watch.inflight) watch.again = true;
    else this.fetch(key, watch);
  }

  private fetch(key: string, watch: Watch): void {
    watch.inflight = true;
    const before = this.states.get().get(key);
    if (!before) this.put(key, NOTHING);
    this.load(key)
      .then(
        (value) => this.put(key, { value, error: null, code: null, loading: false }),
        (error: Error & { code?: string | null }) =>
          this.put(key, {
            value: this.states.get().get(key)?.value ?? null,
            error: error.message,
            code: error.code ?? null,
            loading: false,
          }),
      )
      .finally(() => {
        watch.inflight = false;
        if (watch.again && this.watched.get(key) === watch) {
          watch.again = false;
          this.fetch(key, watch);
        }
      });
  }

  private put(key: string, state: Loaded<T>): void {
    const next = new Map(this.states.get());
    next.set(key, state);
    this.states.set(next);
  }
}

/** The value of `key` (nothing for null), loaded while the component shows it. */
export function useResource<T>(resource: Resource<T>, key: string | null, follow: boolean): Loaded<T> {
  useEffect(() => (key === null ? undefined : resource.watch(key, follow)), [resource, key, follow]);
  return useStore(resource.states, (states) => (key === null ? NO_KEY : (states.get(key) ?? NOTHING)));
}
