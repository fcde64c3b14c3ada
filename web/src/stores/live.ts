// Live state from /ws: the flow list (newest first), the settings, the connection, and the
// answer text streamed so far for each flow.
import { connectSocket } from '../api/socket';
import type { FlowJSON, LiveMessage, SettingsJSON } from '../api/types.gen';
import { createStore, useStore, type Store } from './store';

export type Connection = 'open' | 'connecting';

export interface LiveState {
  connection: Connection;
  /** True once the first snapshot arrived. */
  synced: boolean;
  version: string | null;
  settings: SettingsJSON | null;
  flows: readonly FlowJSON[];
}

export interface FlowText {
  text: string;
  /** The deltas go back to the flow's start (it was first seen after connecting). */
  fromStart: boolean;
}

// The server keeps its last `live_window` flows (500 by default); past twice that many (and at
// least this many), the oldest finished ones leave the page too, so a long session does not grow
// without end. The history has them all.
const KEEP_FLOWS = 1000;
// Flow messages come many at a time: the list is made again once per frame, not once each.
const FRAME_MS = 16;

class LiveStore {
  /** Every flow message gives its flow a new object: a changed flow is a new one here. */
  readonly state: Store<LiveState> = createStore<LiveState>({
    connection: 'connecting',
    synced: false,
    version: null,
    settings: null,
    flows: [],
  });
  /**
   * Counts the calls seen to finish (and the snapshots, after which anything may have): views
   * read from the history follow it to stay current.
   */
  readonly finished: Store<number> = createStore(0);
  /** Changed in place and told within a frame: deltas come many at a time. */
  readonly texts: Store<ReadonlyMap<string, FlowText>>;
  private textsById = new Map<string, FlowText>();
  private byId = new Map<string, FlowJSON>();
  private order: string[] = [];
  private stop: (() => void) | null = null;
  private keep = KEEP_FLOWS;
  private publishing: ReturnType<typeof setTimeout> | undefined;

  constructor() {
    this.texts = createStore<ReadonlyMap<string, FlowText>>(this.textsById);
  }

  start(): void {
    if (this.stop) return;
    this.stop = connectSocket({
      onState: (open) => this.change({ connection: open ? 'open' : 'connecting' }),
      onMessage: (message) => this.receive(message),
    });
  }

  text(id: string): FlowText | undefined {
    return this.textsById.get(id);
  }

  flow(id: string): FlowJSON | undefined {
    return this.byId.get(id);
  }

  /** When the live list was last cleared (ISO-8601): the calls before it stay out of the page. */
  clearedAt: string | null = null;

  noteCleared(): void {
    this.clearedAt = new Date().toISOString();
  }

  /** Counts settings received from the socket; see patchedSettings. */
  settingsSeen = 0;

  /**
   * The answer of a PATCH sent when settingsSeen was `seen`. The socket's `settings` messages
   * are fresher when one came since: an HTTP answer can arrive after a later change's message.
   */
  patchedSettings(settings: SettingsJSON, seen: number): void {
    if (seen !== this.settingsSeen) return;
    this.change({ settings });
  }

  /** Replace the list with what the server holds (after a clear, say). */
  replaceFlows(flows: FlowJSON[]): void {
    this.byId = new Map(flows.map((flow) => [flow.id, flow]));
    this.order = flows.map((flow) => flow.id);
    for (const id of this.textsById.keys()) if (!this.byId.has(id)) this.textsById.delete(id);
    this.publishFlows();
  }

  private change(part: Partial<LiveState>): void {
    this.state.set({ ...this.state.get(), ...part });
  }

  private receive(message: LiveMessage): void {
    switch (message.type) {
      case 'snapshot': {
        // Text streamed while we were away is lost: a flow still running now restarts from
        // its detail's text.
        for (const flow of message.flows) {
          if (this.textsById.has(flow.id) && !isFinished(flow.state)) this.textsById.delete(flow.id);
        }
        this.settingsSeen += 1;
        this.keep = Math.max(KEEP_FLOWS, 2 * message.live_window);
        this.replaceFlows(message.flows);
        this.change({ synced: true, version: message.version, settings: message.settings });
        this.finished.setSoon(this.finished.get() + 1);
        break;
      }
      case 'flow': {
        const flow = message.flow;
        const before = this.byId.get(flow.id);
        if (isFinished(flow.state) && !(before && isFinished(before.state)))
          this.finished.setSoon(this.finished.get() + 1);
        if (!before) {
          this.order.unshift(flow.id);
          if (!this.textsById.has(flow.id)) this.textsById.set(flow.id, { text: '', fromStart: true });
        }
        this.byId.set(flow.id, flow);
        this.publishSoon();
        break;
      }
      case 'text': {
        const known = this.textsById.get(message.id);
        this.textsById.set(message.id, {
          text: (known?.text ?? '') + message.text,
          fromStart: known?.fromStart ?? false,
        });
        this.texts.setSoon(this.textsById);
        break;
      }
      case 'settings':
        this.settingsSeen += 1;
        this.change({ settings: message.settings });
        break;
    }
  }

  private publishSoon(): void {
    this.publishing ??= setTimeout(() => this.publishFlows(), FRAME_MS);
  }

  private publishFlows(): void {
    clearTimeout(this.publishing);
    this.publishing = undefined;
    let flows: FlowJSON[] = [];
    for (const id of this.order) {
      const flow = this.byId.get(id);
      if (flow) flows.push(flow);
    }
    if (flows.length > this.keep) {
      const kept = flows.slice(0, this.keep);
      for (const flow of flows.slice(this.keep)) {
        if (isFinished(flow.state)) {
          this.byId.delete(flow.id);
          this.textsById.delete(flow.id);
        } else {
          kept.push(flow);
        }
      }
      flows = kept;
    }
    this.order = flows.map((flow) => flow.id);
    this.state.set({ ...this.state.get(), flows });
  }
}

export function isFinished(state: string): boolean {
  return state === 'COMPLETE' || state === 'ERROR';
}

export const live = new LiveStore();

export function useLive(): LiveState {
  return useStore(live.state);
}

export function useFlowText(id: string | null): FlowText | undefined {
  return useStore(live.texts, (texts) => (id ? texts.get(id) : undefined));
}
