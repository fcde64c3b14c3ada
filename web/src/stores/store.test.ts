import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createStore } from './store';

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  vi.useRealTimers();
});

describe('createStore', () => {
  it('tells its listeners of a change at once', () => {
    const store = createStore(1);
    const heard: number[] = [];
    store.subscribe(() => heard.push(store.get()));
    store.set(2);
    store.set(3);
    expect(heard).toEqual([2, 3]);
  });

  it('tells of many soon changes once, within a frame', () => {
    const store = createStore(0);
    const heard: number[] = [];
    store.subscribe(() => heard.push(store.get()));
    for (let value = 1; value <= 5; value += 1) store.setSoon(value);
    expect(store.get()).toBe(5);
    expect(heard).toEqual([]);
    vi.advanceTimersByTime(16);
    expect(heard).toEqual([5]);
    vi.advanceTimersByTime(100);
    expect(heard).toEqual([5]);
  });

  it('tells a pending soon change along with a change now', () => {
    const store = createStore('a');
    const heard: string[] = [];
    store.subscribe(() => heard.push(store.get()));
    store.setSoon('b');
    store.set('c');
    vi.advanceTimersByTime(100);
    expect(heard).toEqual(['c']);
  });

  it('stops telling a listener that left', () => {
    const store = createStore(0);
    const heard: number[] = [];
    const leave = store.subscribe(() => heard.push(store.get()));
    store.set(1);
    leave();
    store.set(2);
    expect(heard).toEqual([1]);
  });

  it('runs its watcher while anyone listens, and stops it when the last one leaves', () => {
    const stop = vi.fn();
    const start = vi.fn(() => stop);
    const store = createStore(0, start);
    const first = store.subscribe(() => {});
    const second = store.subscribe(() => {});
    expect(start).toHaveBeenCalledTimes(1);
    first();
    first();
    expect(stop).not.toHaveBeenCalled();
    second();
    expect(stop).toHaveBeenCalledTimes(1);
    store.subscribe(() => {})();
    expect(start).toHaveBeenCalledTimes(2);
    expect(stop).toHaveBeenCalledTimes(2);
  });
});
