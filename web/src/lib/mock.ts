// Mocks as the editor sees them: templates to start from, the JSON read from the editor, and
// where the server's refusal points in it. The rules of a mock are the server's alone
// (POST /api/mocks/validate).
import type { FlowDetailJSON, FlowJSON } from '../api/types.gen';

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
      const tool = detail?.conversation?.tools[0];
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

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Placeholder arguments for a tool from its JSON schema: each property with an empty value. */
export function argumentSkeleton(parameters: unknown): Record<string, unknown> {
  const skeleton: Record<string, unknown> = {};
  if (!isObject(parameters) || !isObject(parameters.properties)) return skeleton;
  for (const [name, schema] of Object.entries(parameters.properties)) {
    const type: unknown = isObject(schema) ? schema.type : undefined;
    const first: unknown = Array.isArray(type) ? type[0] : type;
    skeleton[name] =
      first === 'number' || first === 'integer'
        ? 0
        : first === 'boolean'
          ? false
          : first === 'array'
            ? []
            : first === 'object'
              ? {}
              : isObject(schema) && Array.isArray(schema.enum) && schema.enum.length > 0
                ? (schema.enum[0] as unknown)
                : '';
  }
  return skeleton;
}

/** A field of the mock: keys of objects, indexes of lists. */
export type Path = (string | number)[];

/** What is wrong with a mock: `path` locates a field, `offset` a JSON syntax error. */
export interface MockProblem {
  message: string;
  path?: Path;
  offset?: number;
}

export type ParsedMock = { ok: true; mock: unknown } | { ok: false; problem: MockProblem };

/** The editor's text as JSON; whether it is a mock is for the server to say. */
export function parseMock(text: string): ParsedMock {
  try {
    return { ok: true, mock: JSON.parse(text) };
  } catch (error) {
    const reason = (error as Error).message;
    const position = /position (\d+)/.exec(reason);
    return {
      ok: false,
      problem: { message: `Not valid JSON: ${reason}`, offset: position ? Number(position[1]) : undefined },
    };
  }
}

const STEP = /\.([^.[\]]+)|\[(\d+)\]/g;

/**
 * The field a refusal's `param` names inside the mock: `mock.tool_calls[0].name` is
 * ['tool_calls', 0, 'name']. Undefined when `param` is not about the mock.
 */
export function mockPath(param: string | null): Path | undefined {
  return fieldPath(param, 'mock');
}

/** The field `param` names inside `root` (`request.messages[2]` in `request`), if it does. */
export function fieldPath(param: string | null, root: string): Path | undefined {
  if (param !== root && !param?.startsWith(`${root}.`) && !param?.startsWith(`${root}[`)) return undefined;
  const path: Path = [];
  for (const [, key, index] of param.slice(root.length).matchAll(STEP)) {
    path.push(index === undefined ? (key ?? '') : Number(index));
  }
  return path;
}
