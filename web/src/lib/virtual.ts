// A long list of fixed-height rows: which to render (those in view plus a margin), where to
// scroll to show one, and keeping a scrolled list in place as rows arrive at the top.
import { useEffect, useLayoutEffect, useRef, useState, type RefObject, type UIEvent } from 'react';

export interface RowWindow {
  /** The first row to render. */
  start: number;
  /** One past the last row to render. */
  end: number;
}

/**
 * The rows a viewport of `viewport` px scrolled to `scrollTop` shows of `count` rows of
 * `rowHeight` px, widened by `margin` rows on each side so a quick scroll shows no gap.
 */
export function rowWindow(
  scrollTop: number,
  viewport: number,
  rowHeight: number,
  count: number,
  margin: number,
): RowWindow {
  const first = Math.floor(Math.max(0, scrollTop) / rowHeight);
  const shown = Math.ceil(Math.max(0, viewport) / rowHeight) + 1;
  const start = Math.max(0, Math.min(count, first - margin));
  const end = Math.max(start, Math.min(count, first + shown + margin));
  return { start, end };
}

/**
 * Where to scroll so that row `index` is wholly in view, moving as little as possible; null
 * when it already is.
 */
export function scrollToRow(
  index: number,
  scrollTop: number,
  viewport: number,
  rowHeight: number,
): number | null {
  const top = index * rowHeight;
  const bottom = top + rowHeight;
  if (top < scrollTop) return top;
  if (bottom > scrollTop + viewport) return Math.max(0, bottom - viewport);
  return null;
}

// How far back a list that changed is searched for the row that was first.
const ANCHOR_SEARCH_ROWS = 5000;

/**
 * New rows arrive at the top (newest first): a list scrolled down moves down with them, so the
 * rows being read stay where they are. A list at the top shows the new rows.
 */
export function useKeptInPlace(
  ref: RefObject<HTMLElement | null>,
  rows: readonly { id: string }[],
  rowHeight: number,
): void {
  const first = useRef<string | undefined>(undefined);
  useLayoutEffect(() => {
    const before = first.current;
    first.current = rows[0]?.id;
    const element = ref.current;
    if (!element || !before || element.scrollTop === 0 || before === first.current) return;
    const limit = Math.min(rows.length, ANCHOR_SEARCH_ROWS);
    for (let index = 1; index < limit; index += 1) {
      if (rows[index]!.id === before) {
        element.scrollTop += index * rowHeight;
        return;
      }
    }
  }, [ref, rows, rowHeight]);
}

/** The scroll position and height of the rows' box, kept up to date. */
export function useViewport(ref: RefObject<HTMLElement | null>) {
  const [scrollTop, setScrollTop] = useState(0);
  // Before the first measure (and where there is no layout) a window's height is a fair guess.
  const [viewport, setViewport] = useState(() => window.innerHeight);
  useEffect(() => {
    const element = ref.current;
    if (!element) return;
    const measure = () => setViewport(element.clientHeight || window.innerHeight);
    measure();
    const observer = new ResizeObserver(measure);
    observer.observe(element);
    return () => observer.disconnect();
  }, [ref]);
  const onScroll = (event: UIEvent<HTMLElement>) => setScrollTop(event.currentTarget.scrollTop);
  return { scrollTop, viewport, onScroll };
}
