// The resend editor's quick controls, as pure edits of a request body: the model, the last user
// message, the temperature, the tools, and dropping the last step. Each reads and writes the
// shapes of Chat Completions (`messages`), Anthropic Messages (`messages` with content blocks)
// and the Responses API (`input`, a string or a list of items). Edits return a new body; the
// one given is never changed.

import { fieldPath, type Path } from './mock';

export type Body = Record<string, unknown>;

const isObject = (value: unknown): value is Body =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** The request's turns: `messages`, else the Responses API's `input`. */
function turnsKey(body: Body): 'messages' | 'input' | null {
  if (Array.isArray(body.messages)) return 'messages';
  if (body.input !== undefined && !('messages' in body)) return 'input';
  return null;
}

const TEXT_PARTS = new Set(['text', 'input_text']);

function isTextPart(part: unknown): part is { type: string; text: string } {
  return isObject(part) && TEXT_PARTS.has(part.type as string) && typeof part.text === 'string';
}

/** A user turn's text: its string content, or its text parts joined; null when it has none. */
function userText(turn: unknown): string | null {
  if (!isObject(turn) || turn.role !== 'user') return null;
  if (typeof turn.content === 'string') return turn.content;
  if (!Array.isArray(turn.content)) return null;
  const texts = turn.content.filter(isTextPart).map((part) => part.text);
  return texts.length ? texts.join('\n\n') : null;
}

/** Where the last user message with text is: the index of its turn, or 'input' for a string input. */
function lastUserAt(body: Body): number | 'input' | null {
  const key = turnsKey(body);
  if (key === null) return null;
  const turns = body[key];
  if (key === 'input' && typeof turns === 'string') return 'input';
  if (!Array.isArray(turns)) return null;
  for (let index = turns.length - 1; index >= 0; index -= 1) {
    if (userText(turns[index]) !== null) return index;
  }
  return null;
}

/** The text of the last user message (a tool result alone is not one); null when there is none. */
export function lastUserMessage(body: Body): string | null {
  const at = lastUserAt(body);
  if (at === null) return null;
  if (at === 'input') return body.input as string;
  return userText((body[turnsKey(body)!] as unknown[])[at]);
}

/**
 * The body with the last user message's text replaced by `text`: a string content stays a
 * string; in a list of parts the first text part takes it and the other text parts go (images
 * and tool results stay). Unchanged when there is no user message.
 */
export function withLastUserMessage(body: Body, text: string): Body {
  const at = lastUserAt(body);
  if (at === null) return body;
  if (at === 'input') return { ...body, input: text };
  const key = turnsKey(body)!;
  const turns = [...(body[key] as unknown[])];
  const turn = turns[at] as Body;
  if (typeof turn.content === 'string') {
    turns[at] = { ...turn, content: text };
  } else {
    const parts = turn.content as unknown[];
    const first = parts.findIndex(isTextPart);
    const content = parts.flatMap((part, index) =>
      index === first ? [{ ...(part as Body), text }] : isTextPart(part) ? [] : [part],
    );
    turns[at] = { ...turn, content };
  }
  return { ...body, [key]: turns };
}

/** A turn the model wrote: an assistant message, or a Responses output item (a tool call, reasoning). */
function isModelTurn(turn: unknown): boolean {
  if (!isObject(turn)) return false;
  if (turn.role === 'assistant') return true;
  return typeof turn.type === 'string' && MODEL_ITEMS.has(turn.type);
}

const MODEL_ITEMS = new Set([
  'function_call',
  'reasoning',
  'web_search_call',
  'file_search_call',
  'computer_call',
  'code_interpreter_call',
  'custom_tool_call',
  'mcp_call',
  'image_generation_call',
]);

/** Where the last step begins: the first of the last run of model turns; null without one. */
function lastStepAt(body: Body): number | null {
  const key = turnsKey(body);
  const turns = key ? body[key] : undefined;
  if (!Array.isArray(turns)) return null;
  let at = -1;
  for (let index = turns.length - 1; index >= 0; index -= 1) {
    if (isModelTurn(turns[index])) {
      at = index;
      break;
    }
  }
  if (at < 0) return null;
  while (at > 0 && isModelTurn(turns[at - 1])) at -= 1;
  return at;
}

/** Whether there is a model turn to drop. */
export function canDropLastStep(body: Body): boolean {
  return lastStepAt(body) !== null;
}

/**
 * The body re-asked from the step before: the turns from the last model turn on (the answer,
 * its tool calls, their results and anything after them) are removed. Unchanged without one.
 */
export function withoutLastStep(body: Body): Body {
  const at = lastStepAt(body);
  if (at === null) return body;
  const key = turnsKey(body)!;
  return { ...body, [key]: (body[key] as unknown[]).slice(0, at) };
}

/** The request's tool fields, kept aside while the tools are off. */
export type Tools = Partial<Record<'tools' | 'tool_choice', unknown>>;

const TOOL_KEYS = ['tools', 'tool_choice'] as const;

export function hasTools(body: Body): boolean {
  return body.tools !== undefined;
}

/** The body without `tools` and `tool_choice`, and what was removed (to put back later). */
export function withoutTools(body: Body): { body: Body; removed: Tools } {
  const next = { ...body };
  const removed: Tools = {};
  for (const key of TOOL_KEYS) {
    if (key in next) {
      removed[key] = next[key];
      delete next[key];
    }
  }
  return { body: next, removed };
}

/** The body with `tools` (and `tool_choice`) put back. */
export function withTools(body: Body, tools: Tools): Body {
  return { ...body, ...tools };
}

/** The temperature as the field shows it: empty when the request has none. */
export function temperatureText(body: Body): string {
  return typeof body.temperature === 'number' ? String(body.temperature) : '';
}

/** The body with the temperature typed: empty removes it; text that is no number is kept as typed. */
export function withTemperature(body: Body, text: string): Body {
  const next = { ...body };
  const trimmed = text.trim();
  if (trimmed === '') delete next.temperature;
  else next.temperature = Number.isFinite(Number(trimmed)) ? Number(trimmed) : trimmed;
  return next;
}

export function modelOf(body: Body): string {
  return typeof body.model === 'string' ? body.model : '';
}

export function withModel(body: Body, model: string): Body {
  return { ...body, model };
}

/** The editor's text for a body. */
export function bodyText(body: unknown): string {
  return JSON.stringify(body, null, 2);
}

/** The editor's text as a request body (a JSON object), or null while it is not one. */
export function parseBody(text: string): Body | null {
  try {
    const value: unknown = JSON.parse(text);
    return isObject(value) ? value : null;
  } catch {
    return null;
  }
}

/**
 * The field a refusal's `param` names inside the request: `request.messages[2].content` is
 * ['messages', 2, 'content']. Undefined when `param` is not about the request.
 */
export function requestPath(param: string | null): Path | undefined {
  return fieldPath(param, 'request');
}
