// The dashboard's REST calls. Every failure becomes an ApiError carrying the server's message.
import type {
  Conversation,
  Decision,
  FlowDetailJSON,
  FlowJSON,
  MockValidJSON,
  RunJSON,
  SettingsJSON,
  SettingsPatch,
  TapeAnswerJSON,
  TapeJSON,
  ThreadDetailJSON,
  DiffJSON,
  ThreadJSON,
} from './types.gen';

export type { Decision, SettingsPatch };

/** What a resend sends: an edited request (the original when left out), and where to. */
export interface ResendBody {
  request?: unknown;
  to?: ResendTo;
}

export type ResendTo = 'upstream' | 'tape';

/** Whose request a kept answer becomes the tape of: the flow's own, or its parent's. */
export type KeepFor = 'own' | 'parent';

/** A tape file with `conversation` and `answer` added (null where they cannot be read). */
export type ReadableTape = Record<string, unknown> & {
  conversation: Conversation | null;
  answer: TapeAnswerJSON | null;
};

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

/** What a search of the history asks for; empty fields are left out of the query. */
export interface FlowQuery {
  q?: string;
  run?: string | null;
  source?: string;
  /** Calls started before this ISO-8601 time. */
  until?: string;
  /** The resends of this flow id or `tape:<key>`. */
  parent?: string;
  limit?: number;
}

/** One page of a list; `next` is the URL of the page after it (from the `Link` header). */
export interface Page<T> {
  items: T[];
  next: string | null;
}

/** What `GET /api/tapes` can order the tapes by; `recorded` is the time recorded. */
export type TapeSort = 'recorded' | 'model' | 'endpoint' | 'size' | 'key' | 'chunks';

/** What a search of the tapes asks for; empty fields are left out of the query. */
export interface TapeQuery {
  q?: string;
  sort?: TapeSort;
  order?: 'asc' | 'desc';
  limit?: number;
}

/** A page of tapes, and how many match in all (`X-Total-Count`). */
export interface TapePage extends Page<TapeJSON> {
  total: number;
  /** The tapes folder is being indexed for the first time: these are the tapes read so far. */
  indexing: boolean;
}

/** `GET /api/tapes` for `query` (the server's defaults left out: newest first). */
export function tapesUrl(query: TapeQuery): string {
  const params = new URLSearchParams();
  const q = query.q?.trim();
  if (q) params.set('q', q);
  if (query.sort && query.sort !== 'recorded') params.set('sort', query.sort);
  if (query.order && query.order !== 'desc') params.set('order', query.order);
  if (query.limit !== undefined) params.set('limit', String(query.limit));
  const text = params.toString();
  return text ? `/api/tapes?${text}` : '/api/tapes';
}

/** `GET /api/flows` for `query`, newest first, without bodies. */
export function flowsUrl(query: FlowQuery): string {
  const params = new URLSearchParams();
  const q = query.q?.trim();
  if (q) params.set('q', q);
  if (query.run) params.set('run', query.run);
  if (query.source) params.set('source', query.source);
  if (query.until) params.set('until', query.until);
  if (query.parent) params.set('parent', query.parent);
  if (query.limit !== undefined) params.set('limit', String(query.limit));
  params.set('bodies', 'false');
  return `/api/flows?${params.toString()}`;
}

/** The `rel="next"` URL of a `Link` header, or null. */
export function nextLink(header: string | null): string | null {
  if (!header) return null;
  for (const part of header.split(',')) {
    const match = /^\s*<([^>]*)>\s*;(.*)$/.exec(part);
    if (match && /\brel\s*=\s*"?next"?/.test(match[2]!)) return match[1]!;
  }
  return null;
}

async function call<T>(method: string, url: string, body?: unknown): Promise<T> {
  return (await send<T>(method, url, body)).value;
}

async function send<T>(method: string, url: string, body?: unknown): Promise<{ value: T; headers: Headers }> {
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
  if (response.status === 204) return { value: undefined as T, headers: response.headers };
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
  return { value: parsed as T, headers: response.headers };
}

export const api = {
  /** A page of `GET /api/flows`: `url` is a flowsUrl() or the `next` of the page before. */
  flowPage: async (url: string): Promise<Page<FlowJSON>> => {
    const { value, headers } = await send<FlowJSON[]>('GET', url);
    return { items: value, next: nextLink(headers.get('Link')) };
  },
  flow: (id: string) => call<FlowDetailJSON>('GET', `/api/flows/${encodeURIComponent(id)}`),
  clearFlows: () => call<{ dropped: number }>('DELETE', '/api/flows'),
  decide: (id: string, decision: Decision) =>
    call<FlowJSON>('POST', `/api/flows/${encodeURIComponent(id)}/decision`, decision),
  /** Refused (an ApiError naming the field in `param`) as the mock decision for `id` would be. */
  validateMock: (id: string, mock: unknown) =>
    call<MockValidJSON>('POST', `/api/mocks/validate?flow=${encodeURIComponent(id)}`, mock),
  runs: () => call<RunJSON[]>('GET', '/api/runs'),
  threads: (run: string | null) =>
    call<ThreadJSON[]>('GET', `/api/threads${run ? `?run=${encodeURIComponent(run)}` : ''}`),
  thread: (id: string) => call<ThreadDetailJSON>('GET', `/api/threads/${encodeURIComponent(id)}`),
  settings: () => call<SettingsJSON>('GET', '/api/settings'),
  patchSettings: (patch: SettingsPatch) => call<SettingsJSON>('PATCH', '/api/settings', patch),
  /** A page of `GET /api/tapes`: `url` is a tapesUrl() or the `next` of the page before. */
  tapePage: async (url: string): Promise<TapePage> => {
    const { value, headers } = await send<TapeJSON[]>('GET', url);
    const total = Number(headers.get('X-Total-Count') ?? value.length);
    const indexing = headers.get('X-Playingpack-Indexing') === 'true';
    return { items: value, next: nextLink(headers.get('Link')), total, indexing };
  },
  // A tape's key is `<hash>`, `<scope>/<hash>` or either with `.<k>`: its slash stays a path
  // separator.
  tape: (key: string) => call<unknown>('GET', `/api/tapes/${tapePath(key)}`),
  /** The tape file plus its request read as a conversation and its answer's text and tool calls. */
  readableTape: (key: string) =>
    call<ReadableTape>('GET', `/api/tapes/${tapePath(key)}?conversation=true&answer=true`),
  deleteTape: (key: string) => call<void>('DELETE', `/api/tapes/${tapePath(key)}`),
  /** Starts a new flow from flow `id`'s request (or `body.request`); resolves to its id. */
  resend: (id: string, body: ResendBody) =>
    call<{ id: string }>('POST', `/api/flows/${encodeURIComponent(id)}/resend`, body),
  resendTape: (key: string, body: ResendBody) =>
    call<{ id: string }>('POST', `/api/tapes/${tapePath(key)}/resend`, body),
  /** Saves flow `id`'s answer as a tape: of its own request, or of its parent's. */
  keep: (id: string, what: KeepFor) =>
    call<TapeJSON>('POST', `/api/flows/${encodeURIComponent(id)}/keep`, { for: what }),
  /** Forwards a missed call's request to the upstream once and records it; resolves to the new flow. */
  record: (id: string) => call<{ id: string }>('POST', `/api/flows/${encodeURIComponent(id)}/record`),
  /** Refused (an ApiError naming the field in `param`) as a resend of `request` to `path` would be. */
  validateRequest: (path: string, request: unknown) =>
    call<{ ok: true }>('POST', '/api/requests/validate', { path, request }),
  /** Compares two references: flow ids, `tape:<key>`, or (for `b`) `nearest`. */
  diff: (a: string, b: string) =>
    call<DiffJSON>('GET', `/api/diff?a=${encodeURIComponent(a)}&b=${encodeURIComponent(b)}`),
  resends: (parent: string) => call<FlowJSON[]>('GET', flowsUrl({ parent })),
};

function tapePath(key: string): string {
  return key.split('/').map(encodeURIComponent).join('/');
}

export const HAR_URL = '/api/har';
