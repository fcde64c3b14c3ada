// Mocks as the editor sees them: templates to start from, and the same checks the server
// makes (SPEC §8), so an invalid mock is flagged as it is typed and never sent.
import type { FlowDetailJSON, FlowJSON } from '../api/types.gen';
import { argumentSkeleton, readTools } from './conversation';

export type TemplateKind = 'real' | 'text' | 'tool' | 'error' | 'response';

export const TEMPLATES: [TemplateKind, string][] = [
  ['real', 'Real answer'],
  ['text', 'Text'],
  ['tool', 'Tool call'],
  ['error', 'Error'],
  ['response', 'Full response'],
];

export interface TemplateContext {
  flow: FlowJSON;
  detail: FlowDetailJSON | null;
  /** The answer's text so far. */
  text: string;
}

export function mockTemplate(kind: TemplateKind, { flow, detail, text }: TemplateContext): string {
  const requestHold = flow.hold?.stage === 'request';
  let mock: unknown;
  switch (kind) {
    case 'real':
      if (requestHold) return mockTemplate('text', { flow, detail, text });
      mock = {
        ...(text || flow.tool_calls.length === 0 ? { content: text } : {}),
        ...(flow.tool_calls.length > 0
          ? { tool_calls: flow.tool_calls.map((call) => ({ name: call.name, arguments: call.arguments })) }
          : {}),
      };
      break;
    case 'text':
      mock = { content: text || 'A made-up answer.' };
      break;
    case 'tool': {
      const tool = readTools((detail?.request as { tools?: unknown } | null)?.tools)[0];
      const name = tool?.name ?? flow.tool_calls[0]?.name ?? 'tool_name';
      mock = { tool_calls: [{ name, arguments: tool ? argumentSkeleton(tool.parameters) : {} }] };
      break;
    }
    case 'error':
      mock = { error: { status: 500, message: 'A made-up error from playingpack.', retry: false } };
      break;
    case 'response':
      mock = { response: detail?.response ?? {} };
      break;
  }
  return JSON.stringify(mock, null, 2);
}

export type Path = (string | number)[];

export type MockCheck =
  | { ok: true; mock: Record<string, unknown> }
  /** `path` locates a shape error; `offset` a syntax error (when the parser says where). */
  | { ok: false; message: string; path?: Path; offset?: number };

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

export function pathName(path: Path): string {
  return path.reduce<string>(
    (name, key) => (typeof key === 'number' ? `${name}[${key}]` : name ? `${name}.${key}` : key),
    '',
  );
}

class ShapeError extends Error {
  constructor(readonly path: Path, message: string) {
    super(message);
  }
}

function fail(path: Path, message: string): never {
  throw new ShapeError(path, message);
}

function onlyKeys(value: Json, allowed: string[], path: Path): void {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) {
      const where = path.length ? `\`${pathName(path)}\`` : 'a mock';
      fail([...path, key], `Unknown field "${key}": ${where} has only ${allowed.join(', ')}.`);
    }
  }
}

export function checkMock(text: string): MockCheck {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    const reason = (error as Error).message;
    const position = /position (\d+)/.exec(reason);
    return { ok: false, message: `Not valid JSON: ${reason}`, offset: position ? Number(position[1]) : undefined };
  }
  try {
    checkShape(value);
  } catch (error) {
    if (error instanceof ShapeError) return { ok: false, message: error.message, path: error.path };
    throw error;
  }
  return { ok: true, mock: value as Json };
}

function checkShape(mock: unknown): void {
  if (!isObject(mock)) {
    fail([], 'A mock is a JSON object: {"content": ...}, {"tool_calls": [...]}, {"error": {...}} or {"response": {...}}.');
  }
  onlyKeys(mock, ['content', 'tool_calls', 'error', 'response'], []);
  const { content, tool_calls: calls, error, response } = mock;
  if (content !== undefined && content !== null && typeof content !== 'string') {
    fail(['content'], '`content` must be a string (the answer\'s text).');
  }
  if (calls !== undefined && calls !== null) {
    if (!Array.isArray(calls)) fail(['tool_calls'], '`tool_calls` must be a list of {"name": ..., "arguments": {...}}.');
    calls.forEach(checkToolCall);
  }
  if (error !== undefined && error !== null) checkError(error);
  if (response !== undefined && response !== null && !isObject(response)) {
    fail(['response'], '`response` must be a JSON object: the provider\'s whole answer.');
  }
  const kinds = [
    ['content/tool_calls', (content !== undefined && content !== null) || (Array.isArray(calls) && calls.length > 0)],
    ['error', error !== undefined && error !== null],
    ['response', response !== undefined && response !== null],
  ].filter(([, given]) => given).map(([name]) => name);
  if (kinds.length === 0) {
    if (Array.isArray(calls)) fail(['tool_calls'], '`tool_calls` is empty: give at least one call (or content).');
    fail([], 'The mock is empty: give content (text), tool_calls, error or response.');
  }
  if (kinds.length > 1) {
    fail([], `A mock is one of content and/or tool_calls, error, or response; this one mixes ${kinds.join(' and ')}.`);
  }
}

function checkToolCall(call: unknown, index: number): void {
  const path: Path = ['tool_calls', index];
  if (!isObject(call)) fail(path, `\`tool_calls[${index}]\` must be an object {"name": ..., "arguments": {...}}.`);
  onlyKeys(call, ['name', 'arguments', 'id'], path);
  if (typeof call.name !== 'string' || call.name === '') {
    fail(call.name === undefined ? path : [...path, 'name'], `\`tool_calls[${index}].name\` must be a non-empty string: the tool's name.`);
  }
  if (call.id !== undefined && call.id !== null && typeof call.id !== 'string') {
    fail([...path, 'id'], `\`tool_calls[${index}].id\` must be a string.`);
  }
  if (typeof call.arguments === 'string') {
    try {
      JSON.parse(call.arguments);
    } catch {
      fail([...path, 'arguments'], `\`tool_calls[${index}].arguments\` is a string but not JSON: give a JSON object or a string of JSON.`);
    }
  }
}

function checkError(error: unknown): void {
  if (!isObject(error)) fail(['error'], '`error` must be an object {"status": 400-599, "message": "..."}.');
  onlyKeys(error, ['status', 'message', 'type', 'code', 'retry'], ['error']);
  const { status, message } = error;
  if (typeof status !== 'number' || !Number.isInteger(status) || status < 400 || status > 599) {
    fail(status === undefined ? ['error'] : ['error', 'status'], '`error.status` must be a whole number from 400 to 599.');
  }
  if (typeof message !== 'string' || message === '') {
    fail(message === undefined ? ['error'] : ['error', 'message'], '`error.message` must be a non-empty string.');
  }
  for (const key of ['type', 'code'] as const) {
    if (error[key] !== undefined && typeof error[key] !== 'string') fail(['error', key], `\`error.${key}\` must be a string.`);
  }
  if (error.retry !== undefined && typeof error.retry !== 'boolean') fail(['error', 'retry'], '`error.retry` must be true or false.');
}
