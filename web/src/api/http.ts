// The dashboard's REST calls. Every failure becomes an ApiError carrying the server's message.
import type {
  Decision,
  FlowDetailJSON,
  FlowJSON,
  MockValidJSON,
  SettingsJSON,
  SettingsPatch,
  TapeJSON,
} from './types.gen';

export type { Decision, SettingsPatch };

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string | null = null,
    readonly param: string | null = null,
  ) {
    super(message);
  }
}

async function call<T>(method: string, url: string, body?: unknown): Promise<T> {
  let response: Response;
  try {
    response = await fetch(url, {
      method,
      headers: body === undefined ? undefined : { 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
    });
  } catch {
    throw new ApiError('playingpack is not reachable', 0);
  }
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  let parsed: unknown = undefined;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    // Not JSON: handled below as a plain failure.
  }
  if (!response.ok) {
    const error = (parsed as { error?: { message?: string; code?: string; param?: string } })?.error;
    throw new ApiError(
      error?.message ?? `${method} ${url} failed: HTTP ${response.status}`,
      response.status,
      error?.code ?? null,
      error?.param ?? null,
    );
  }
  return parsed as T;
}

export const api = {
  flows: () => call<FlowJSON[]>('GET', '/api/flows?bodies=false'),
  flow: (id: string) => call<FlowDetailJSON>('GET', `/api/flows/${encodeURIComponent(id)}`),
  clearFlows: () => call<{ dropped: number }>('DELETE', '/api/flows'),
  decide: (id: string, decision: Decision) =>
    call<FlowJSON>('POST', `/api/flows/${encodeURIComponent(id)}/decision`, decision),
  /** Refused (an ApiError naming the field in `param`) as the mock decision for `id` would be. */
  validateMock: (id: string, mock: unknown) =>
    call<MockValidJSON>('POST', `/api/mocks/validate?flow=${encodeURIComponent(id)}`, mock),
  settings: () => call<SettingsJSON>('GET', '/api/settings'),
  patchSettings: (patch: SettingsPatch) => call<SettingsJSON>('PATCH', '/api/settings', patch),
  tapes: (q: string) => call<TapeJSON[]>('GET', `/api/tapes${q ? `?q=${encodeURIComponent(q)}` : ''}`),
  // A tape's key is `<hash>`, `<scope>/<hash>` or either with `.<k>`: its slash stays a path
  // separator.
  tape: (key: string) => call<unknown>('GET', `/api/tapes/${tapePath(key)}`),
  deleteTape: (key: string) => call<void>('DELETE', `/api/tapes/${tapePath(key)}`),
};

function tapePath(key: string): string {
  return key.split('/').map(encodeURIComponent).join('/');
}

export const HAR_URL = '/api/har';
