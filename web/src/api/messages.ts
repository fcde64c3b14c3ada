// Messages of the /ws live socket.
import type { FlowJSON, SettingsJSON } from './types.gen';

export type SocketMessage =
  | { type: 'snapshot'; version: string; settings: SettingsJSON; flows: FlowJSON[] }
  | { type: 'flow'; flow: FlowJSON }
  | { type: 'text'; id: string; text: string }
  | { type: 'settings'; settings: SettingsJSON };
