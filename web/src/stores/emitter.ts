// A tiny subscription list whose notifications are batched: many socket messages in a burst
// cause one render, not one each.

type Listener = () => void;

export class Batched {
  private listeners = new Set<Listener>();
  private timer: number | undefined;

  subscribe = (listener: Listener): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  /** Notify soon (within a frame), once for all changes made until then. */
  schedule(): void {
    if (this.timer === undefined) this.timer = window.setTimeout(this.flush, 16);
  }

  /** Notify now (and cancel a scheduled notification). */
  flush = (): void => {
    window.clearTimeout(this.timer);
    this.timer = undefined;
    for (const listener of [...this.listeners]) listener();
  };
}
