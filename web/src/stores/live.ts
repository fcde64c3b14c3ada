// Live state from /ws: the flow list (newest first), the settings, the connection, and the
// answer text streamed so far for each flow.
import { useSyncExternalStore } from 'react';
import { connectSocket } from '../api/socket';
import type { SocketMessage } from '../api/messages';
import type { FlowJSON, SettingsJSON } from '../api/types.gen';
import { Batched } from './emitter';

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

type FlowListener = (flow: FlowJSON) => void;

// The server keeps its last `--history` flows (500 by default); past this many, the oldest
// finished ones leave the page too, so a long session does not grow without end.
const KEEP_FLOWS = 1000;

class LiveStore {
  private state: LiveState = {
    connection: 'connecting',
    synced: false,
    version: null,
    settings: null,
    flows: [],
  };
  private byId = new Map<string, FlowJSON>();
  private order: string[] = [];
  private texts = new Map<string, FlowText>();
  private changes = new Batched();
  private textChanges = new Batched();
  private flowListeners = new Set<FlowListener>();
  private snapshotListeners = new Set<() => void>();
  private stop: (() => void) | null = null;

  start(): void {
    if (this.stop) return;
    this.stop = connectSocket({
      onState: (open) => {
        this.state = { ...this.state, connection: open ? 'open' : 'connecting' };
        this.changes.flush();
      },
      onMessage: (message) => this.receive(message),
    });
  }

  subscribe = (listener: () => void) => this.changes.subscribe(listener);
  get = (): LiveState => this.state;
  subscribeText = (listener: () => void) => this.textChanges.subscribe(listener);
  text(id: string): FlowText | undefined {
    return this.texts.get(id);
  }
  flow(id: string): FlowJSON | undefined {
    return this.byId.get(id);
  }

  /** Called with every flow message (after the list changed). */
  onFlow(listener: FlowListener): () => void {
    this.flowListeners.add(listener);
    return () => this.flowListeners.delete(listener);
  }

  /** Called after each snapshot (the list was replaced, e.g. after a reconnect). */
  onSnapshot(listener: () => void): () => void {
    this.snapshotListeners.add(listener);
    return () => this.snapshotListeners.delete(listener);
  }

  /** Counts settings received from the socket; see patchedSettings. */
  settingsSeen = 0;

  /**
   * The answer of a PATCH sent when settingsSeen was `seen`. The socket's `settings` messages
   * are fresher when one came since: an HTTP answer can arrive after a later change's message.
   */
  patchedSettings(settings: SettingsJSON, seen: number): void {
    if (seen !== this.settingsSeen) return;
    this.state = { ...this.state, settings };
    this.changes.flush();
  }

  /** Replace the list with what the server holds (after a clear, say). */
  replaceFlows(flows: FlowJSON[]): void {
    this.byId = new Map(flows.map((flow) => [flow.id, flow]));
    this.order = flows.map((flow) => flow.id);
    for (const id of this.texts.keys()) if (!this.byId.has(id)) this.texts.delete(id);
    this.publishFlows();
  }

  private receive(message: SocketMessage): void {
    switch (message.type) {
      case 'snapshot': {
        // Text streamed while we were away is lost: a flow still running now restarts from
        // its detail's text.
        for (const flow of message.flows) {
          const text = this.texts.get(flow.id);
          if (text && !isFinished(flow.state)) this.texts.delete(flow.id);
        }
        this.settingsSeen += 1;
        this.state = { ...this.state, synced: true, version: message.version, settings: message.settings };
        this.replaceFlows(message.flows);
        this.changes.flush();
        for (const listener of this.snapshotListeners) listener();
        break;
      }
      case 'flow': {
        const flow = message.flow;
        if (!this.byId.has(flow.id)) {
          this.order.unshift(flow.id);
          if (!this.texts.has(flow.id)) this.texts.set(flow.id, { text: '', fromStart: true });
        }
        this.byId.set(flow.id, flow);
        this.publishFlows();
        for (const listener of this.flowListeners) listener(flow);
        break;
      }
      case 'text': {
        const known = this.texts.get(message.id);
        this.texts.set(message.id, {
          text: (known?.text ?? '') + message.text,
          fromStart: known?.fromStart ?? false,
        });
        this.textChanges.schedule();
        break;
      }
      case 'settings':
        this.settingsSeen += 1;
        this.state = { ...this.state, settings: message.settings };
        this.changes.flush();
        break;
    }
  }

  private publishFlows(): void {
    let flows: FlowJSON[] = [];
    for (const id of this.order) {
      const flow = this.byId.get(id);
      if (flow) flows.push(flow);
    }
    if (flows.length > KEEP_FLOWS) {
      const kept = flows.slice(0, KEEP_FLOWS);
      for (const flow of flows.slice(KEEP_FLOWS)) {
        if (isFinished(flow.state)) {
          this.byId.delete(flow.id);
          this.texts.delete(flow.id);
        } else {
          kept.push(flow);
        }
      }
      flows = kept;
    }
    this.order = flows.map((flow) => flow.id);
    this.state = { ...this.state, flows };
    this.changes.schedule();
  }
}

export function isFinished(state: string): boolean {
  return state === 'COMPLETE' || state === 'ERROR';
}

export const live = new LiveStore();

export function useLive(): LiveState {
  return useSyncExternalStore(live.subscribe, live.get);
}

export function useFlowText(id: string | null): FlowText | undefined {
  return useSyncExternalStore(live.subscribeText, () => (id ? live.text(id) : undefined));
}
