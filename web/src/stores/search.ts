// The Calls list read from the history: the search the filter and the run picker ask for, page
// after page as the list scrolls to its end. New words wait a moment (typing goes on); a
// search of the live run reads its first page again when calls finish.
import { useEffect } from 'react';
import { api, flowsUrl, type FlowQuery } from '../api/http';
import type { FlowJSON } from '../api/types.gen';
import { live } from './live';
import { createStore, useStore } from './store';

export const PAGE_SIZE = 200;
/** How long the filter text must stay unchanged before it is searched. */
export const TYPING_MS = 200;

export interface SearchState {
  /** The first page's URL; '' when there is no search. */
  url: string;
  flows: readonly FlowJSON[];
  next: string | null;
  pages: number;
  loading: boolean;
  error: string | null;
}

const NONE: SearchState = { url: '', flows: [], next: null, pages: 0, loading: false, error: null };

/** The pages after the first, appended: a call already listed is not listed twice. */
export function appendPage(flows: readonly FlowJSON[], page: readonly FlowJSON[]): FlowJSON[] {
  const known = new Set(flows.map((flow) => flow.id));
  return [...flows, ...page.filter((flow) => !known.has(flow.id))];
}

/** A first page read again, in front of the calls listed before that it does not repeat. */
export function refreshFirstPage(flows: readonly FlowJSON[], first: readonly FlowJSON[]): FlowJSON[] {
  const fresh = new Set(first.map((flow) => flow.id));
  return [...first, ...flows.filter((flow) => !fresh.has(flow.id))];
}

class Search {
  readonly state = createStore<SearchState>(NONE);
  private q = '';
  private follow = false;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private refreshing = false;

  constructor() {
    live.finished.subscribe(() => {
      if (this.follow) this.refresh();
    });
  }

  /** Show the calls `query` finds (none for null); `follow` keeps its first page current. */
  want(query: FlowQuery | null, follow: boolean): void {
    this.follow = follow;
    const url = query ? flowsUrl({ ...query, limit: PAGE_SIZE }) : '';
    if (url === this.state.get().url) return;
    clearTimeout(this.timer);
    const typed = (query?.q ?? '').trim() !== this.q;
    this.q = (query?.q ?? '').trim();
    if (!query) {
      this.state.set(NONE);
      return;
    }
    // The calls of the search before stay on screen until this one's arrive.
    this.state.set({ ...this.state.get(), url, next: null, loading: true, error: null });
    this.timer = setTimeout(() => void this.first(url), typed && this.q ? TYPING_MS : 0);
  }

  /** Load the next page, if there is one and none is on its way. */
  more(): void {
    const state = this.state.get();
    if (!state.next || state.loading) return;
    const { url, next } = state;
    this.state.set({ ...state, loading: true });
    api.flowPage(next).then(
      (page) => {
        const now = this.state.get();
        if (now.url !== url) return;
        this.state.set({
          ...now,
          flows: appendPage(now.flows, page.items),
          next: page.next,
          pages: now.pages + 1,
          loading: false,
        });
      },
      (error: Error) => this.fail(url, error),
    );
  }

  private async first(url: string): Promise<void> {
    try {
      const page = await api.flowPage(url);
      const now = this.state.get();
      if (now.url !== url) return;
      this.state.set({ url, flows: page.items, next: page.next, pages: 1, loading: false, error: null });
    } catch (error) {
      this.fail(url, error as Error);
    }
  }

  private refresh(): void {
    const state = this.state.get();
    if (!state.url || state.loading || this.refreshing) return;
    this.refreshing = true;
    const { url } = state;
    api
      .flowPage(url)
      .then(
        (page) => {
          const now = this.state.get();
          if (now.url !== url) return;
          this.state.set({
            ...now,
            flows: refreshFirstPage(now.flows, page.items),
            next: now.pages > 1 ? now.next : page.next,
          });
        },
        () => {
          // The list stays as it was; the next finished call tries again.
        },
      )
      .finally(() => {
        this.refreshing = false;
      });
  }

  private fail(url: string, error: Error): void {
    const now = this.state.get();
    if (now.url === url) this.state.set({ ...now, loading: false, error: error.message });
  }
}

export const search = new Search();

/** The calls `query` finds (nothing when it is null). */
export function useSearch(query: FlowQuery | null, follow: boolean): SearchState {
  const url = query ? flowsUrl(query) : '';
  useEffect(() => {
    search.want(url ? query : null, follow);
    // The URL stands for the query: a new object with the same fields is the same search.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [url, follow]);
  return useStore(search.state);
}
