// The tape browser's list, read from the server a page at a time: the search, sort and order
// asked for, the next page on asking, and the first page again when tapes are written or one
// is deleted; while the tapes folder is indexed for the first time, the first page again every
// INDEXING_POLL_MS.
import { api, tapesUrl, type TapeQuery, type TapeSort } from '../api/http';
import type { TapeJSON } from '../api/types.gen';
import { createStore } from './store';

export const TAPE_PAGE_SIZE = 100;
export const INDEXING_POLL_MS = 2000;

export interface TapeListState {
  /** The first page's URL; '' before anything is asked for. */
  url: string;
  tapes: readonly TapeJSON[];
  /** How many tapes match in all; null until the first page arrives. */
  total: number | null;
  next: string | null;
  pages: number;
  loading: boolean;
  error: string | null;
  /** The server is indexing the tapes folder for the first time: the tapes read so far. */
  indexing: boolean;
}

const NONE: TapeListState = {
  url: '',
  tapes: [],
  total: null,
  next: null,
  pages: 0,
  loading: false,
  error: null,
  indexing: false,
};

/** The sort a click on `sort`'s column head asks for: the other order when it is the current one. */
export function sortedBy(current: TapeQuery, sort: TapeSort): Pick<TapeQuery, 'sort' | 'order'> {
  if ((current.sort ?? 'recorded') === sort) {
    return { sort, order: (current.order ?? 'desc') === 'desc' ? 'asc' : 'desc' };
  }
  // Names read A to Z first; times and sizes biggest first.
  return { sort, order: sort === 'model' || sort === 'endpoint' || sort === 'key' ? 'asc' : 'desc' };
}

/** The tapes after `tapes` on the next page, a tape already listed left out. */
export function appendTapes(tapes: readonly TapeJSON[], page: readonly TapeJSON[]): TapeJSON[] {
  const known = new Set(tapes.map((tape) => tape.key));
  return [...tapes, ...page.filter((tape) => !known.has(tape.key))];
}

/** A first page read again, in front of the tapes listed before that it does not repeat. */
export function refreshTapes(tapes: readonly TapeJSON[], first: readonly TapeJSON[]): TapeJSON[] {
  const fresh = new Set(first.map((tape) => tape.key));
  return [...first, ...tapes.filter((tape) => !fresh.has(tape.key))];
}

export class TapeList {
  readonly state = createStore<TapeListState>(NONE);
  private poll: ReturnType<typeof setTimeout> | undefined;

  /** List the tapes `query` finds, from its first page. */
  want(query: TapeQuery): void {
    const url = tapesUrl({ ...query, limit: TAPE_PAGE_SIZE });
    if (url === this.state.get().url) return;
    // The tapes of the search before stay on screen until this one's arrive.
    this.state.set({ ...this.state.get(), url, next: null, loading: true, error: null });
    void this.first(url, false);
  }

  /** Load the next page, if there is one and none is on its way. */
  more(): void {
    const state = this.state.get();
    if (!state.next || state.loading) return;
    const { url, next } = state;
    this.state.set({ ...state, loading: true });
    api.tapePage(next).then(
      (page) => {
        const now = this.state.get();
        if (now.url !== url) return;
        this.state.set({
          ...now,
          tapes: appendTapes(now.tapes, page.items),
          total: page.total,
          next: page.next,
          pages: now.pages + 1,
          loading: false,
        });
      },
      (error: Error) => this.fail(url, error),
    );
  }

  /**
   * Read the first page again: it replaces a list of one page; a longer one keeps the pages after
   * it (and where they go on from), so reading on where one was stays possible.
   */
  refresh(): void {
    const { url } = this.state.get();
    if (url) void this.first(url, true);
  }

  /** Read the first page again, in place of every page listed. */
  reload(): void {
    const { url } = this.state.get();
    if (url) void this.first(url, false);
  }

  /** Take `key` off the list (it was deleted), then read the first page again. */
  drop(key: string): void {
    const now = this.state.get();
    const tapes = now.tapes.filter((tape) => tape.key !== key);
    const total = now.total === null ? null : now.total - (now.tapes.length - tapes.length);
    this.state.set({ ...now, tapes, total });
    this.refresh();
  }

  private async first(url: string, keep: boolean): Promise<void> {
    try {
      const page = await api.tapePage(url);
      const now = this.state.get();
      if (now.url !== url) return;
      const kept = keep && now.pages > 1;
      this.state.set({
        url,
        tapes: kept ? refreshTapes(now.tapes, page.items) : page.items,
        total: page.total,
        next: kept ? now.next : page.next,
        pages: kept ? now.pages : 1,
        loading: kept ? now.loading : false,
        error: null,
        indexing: page.indexing,
      });
      clearTimeout(this.poll);
      if (page.indexing) this.poll = setTimeout(() => this.refresh(), INDEXING_POLL_MS);
    } catch (error) {
      this.fail(url, error as Error);
    }
  }

  private fail(url: string, error: Error): void {
    const now = this.state.get();
    if (now.url === url) this.state.set({ ...now, loading: false, error: error.message });
  }
}
