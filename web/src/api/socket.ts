// The /ws connection: reconnects on its own, forever, with a backoff of 250 ms doubling to 2 s.
import type { LiveMessage } from './types.gen';

const FIRST_DELAY_MS = 250;
const LAST_DELAY_MS = 2000;

export interface SocketHandlers {
  onMessage(message: LiveMessage): void;
  onState(open: boolean): void;
}

export function connectSocket(handlers: SocketHandlers): () => void {
  let socket: WebSocket | null = null;
  let delay = FIRST_DELAY_MS;
  let timer: number | undefined;
  let stopped = false;

  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;

  function open(): void {
    timer = undefined;
    const current = new WebSocket(url);
    socket = current;
    current.onopen = () => {
      delay = FIRST_DELAY_MS;
      handlers.onState(true);
    };
    current.onmessage = (event: MessageEvent<string>) => {
      let message: LiveMessage;
      try {
        message = JSON.parse(event.data) as LiveMessage;
      } catch {
        return;
      }
      handlers.onMessage(message);
    };
    current.onclose = () => {
      if (socket !== current) return;
      socket = null;
      handlers.onState(false);
      if (stopped) return;
      timer = window.setTimeout(open, delay);
      delay = Math.min(delay * 2, LAST_DELAY_MS);
    };
  }

  open();
  return () => {
    stopped = true;
    window.clearTimeout(timer);
    socket?.close();
  };
}
