// One shared one-second tick for countdowns; it runs only while someone shows one.
import { createStore, useStore } from './store';

const clock = createStore(Date.now(), (store) => {
  // The first reader may have rendered with an old time: correct it at once.
  queueMicrotask(() => store.set(Date.now()));
  const timer = setInterval(() => store.set(Date.now()), 1000);
  return () => clearInterval(timer);
});

export function useNow(): number {
  return useStore(clock);
}
