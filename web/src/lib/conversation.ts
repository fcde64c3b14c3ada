// Reads a request body of any supported API (OpenAI chat and Responses, Anthropic Messages,
// embeddings, legacy completions) as a list of turns that can be shown the same way.

export type Part =
  | { kind: 'text'; text: string }
  | { kind: 'tool_call'; name: string; arguments: unknown; id?: string }
  | { kind: 'tool_result'; id?: string; content: unknown }
  | { kind: 'image'; source: string }
  | { kind: 'json'; value: unknown };

export interface Turn {
  role: string;
  name?: string;
  parts: Part[];
}

export interface Tool {
  name: string;
  description?: string;
  parameters?: unknown;
}

export interface Conversation {
  turns: Turn[];
  tools: Tool[];
  /** The remaining top-level fields: model, temperature, stream, ... */
  params: [string, unknown][];
}

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const str = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);

const CONVERSATION_KEYS = new Set(['messages', 'input', 'system', 'instructions', 'tools', 'prompt']);

/** `path` tells an embeddings input (texts to embed) from a Responses input (what the user said). */
export function readConversation(body: unknown, path = ''): Conversation {
  if (!isObject(body)) return { turns: body === undefined || body === null ? [] : [{ role: 'body', parts: [{ kind: 'json', value: body }] }], tools: [], params: [] };
  const turns: Turn[] = [];
  const system = body.system ?? body.instructions;
  if (system !== undefined && system !== null) turns.push({ role: 'system', parts: readContent(system) });
  if (Array.isArray(body.messages)) {
    for (const message of body.messages) turns.push(readMessage(message));
  }
  if (body.input !== undefined) turns.push(...readInput(body.input, !path.includes('embeddings')));
  if (body.prompt !== undefined) {
    const prompts = Array.isArray(body.prompt) ? body.prompt : [body.prompt];
    for (const prompt of prompts) turns.push({ role: 'prompt', parts: readContent(prompt) });
  }
  const params = Object.entries(body).filter(([key]) => !CONVERSATION_KEYS.has(key));
  return { turns, tools: readTools(body.tools), params };
}

function readMessage(message: unknown): Turn {
  if (!isObject(message)) return { role: '?', parts: [{ kind: 'json', value: message }] };
  const role = str(message.role) ?? str(message.type) ?? '?';
  const parts: Part[] = [];
  if (role === 'tool' && message.tool_call_id !== undefined) {
    parts.push({ kind: 'tool_result', id: str(message.tool_call_id), content: joinText(message.content) });
  } else if (message.content !== undefined && message.content !== null) {
    parts.push(...readContent(message.content));
  }
  if (Array.isArray(message.tool_calls)) {
    for (const call of message.tool_calls) {
      const fn = isObject(call) && isObject(call.function) ? call.function : undefined;
      if (fn) parts.push({ kind: 'tool_call', name: str(fn.name) ?? '?', arguments: fn.arguments, id: isObject(call) ? str(call.id) : undefined });
      else parts.push({ kind: 'json', value: call });
    }
  }
  if (isObject(message.function_call)) {
    parts.push({ kind: 'tool_call', name: str(message.function_call.name) ?? '?', arguments: message.function_call.arguments });
  }
  const name = str(message.name);
  return name === undefined ? { role, parts } : { role, name, parts };
}

/** Responses `input` (a string or items), or embeddings `input` (strings or numbers). */
function readInput(input: unknown, conversational: boolean): Turn[] {
  if (typeof input === 'string') return [{ role: conversational ? 'user' : 'input', parts: [{ kind: 'text', text: input }] }];
  if (!Array.isArray(input)) return [{ role: 'input', parts: [{ kind: 'json', value: input }] }];
  if (input.every((item) => typeof item === 'string')) {
    return input.map((text: string) => ({ role: 'input', parts: [{ kind: 'text', text }] }));
  }
  if (input.every((item) => typeof item === 'number' || Array.isArray(item))) {
    return [{ role: 'input', parts: [{ kind: 'json', value: input }] }];
  }
  return input.map(readItem);
}

function readItem(item: unknown): Turn {
  if (!isObject(item)) return { role: 'input', parts: [{ kind: 'json', value: item }] };
  switch (item.type) {
    case 'function_call':
      return { role: 'assistant', parts: [{ kind: 'tool_call', name: str(item.name) ?? '?', arguments: item.arguments, id: str(item.call_id) }] };
    case 'function_call_output':
      return { role: 'tool', parts: [{ kind: 'tool_result', id: str(item.call_id), content: item.output }] };
    case undefined:
    case 'message':
      if (item.role !== undefined) return readMessage(item);
  }
  return { role: str(item.type) ?? 'item', parts: [{ kind: 'json', value: item }] };
}

/** A content string, or a list of parts/blocks of any of the APIs. */
export function readContent(content: unknown): Part[] {
  if (typeof content === 'string') return [{ kind: 'text', text: content }];
  if (!Array.isArray(content)) return [{ kind: 'json', value: content }];
  return content.map(readBlock);
}

function readBlock(block: unknown): Part {
  if (typeof block === 'string') return { kind: 'text', text: block };
  if (!isObject(block)) return { kind: 'json', value: block };
  const text = str(block.text);
  switch (block.type) {
    case 'text':
    case 'input_text':
    case 'output_text':
      if (text !== undefined) return { kind: 'text', text };
      break;
    case 'thinking':
      if (typeof block.thinking === 'string') return { kind: 'text', text: block.thinking };
      break;
    case 'tool_use':
      return { kind: 'tool_call', name: str(block.name) ?? '?', arguments: block.input, id: str(block.id) };
    case 'tool_result':
      return { kind: 'tool_result', id: str(block.tool_use_id), content: joinText(block.content) };
    case 'image_url': {
      const url = isObject(block.image_url) ? str(block.image_url.url) : str(block.image_url);
      if (url) return { kind: 'image', source: url };
      break;
    }
    case 'input_image':
      if (str(block.image_url)) return { kind: 'image', source: str(block.image_url)! };
      break;
    case 'image':
      if (isObject(block.source)) return { kind: 'image', source: str(block.source.url) ?? `${str(block.source.media_type) ?? 'image'} (${str(block.source.type) ?? 'data'})` };
      break;
  }
  return { kind: 'json', value: block };
}

/** Text blocks joined into one string; anything else stays as it is. */
function joinText(content: unknown): unknown {
  if (!Array.isArray(content)) return content;
  const parts = content.map(readBlock);
  if (parts.every((part) => part.kind === 'text')) return parts.map((part) => (part as { text: string }).text).join('\n');
  return content;
}

export function readTools(tools: unknown): Tool[] {
  if (!Array.isArray(tools)) return [];
  return tools.map((tool): Tool => {
    if (!isObject(tool)) return { name: String(tool) };
    const fn = isObject(tool.function) ? tool.function : tool;
    return {
      name: str(fn.name) ?? str(tool.type) ?? '?',
      description: str(fn.description),
      parameters: fn.parameters ?? fn.input_schema,
    };
  });
}

/** Placeholder arguments for a tool from its JSON schema: each property with an empty value. */
export function argumentSkeleton(parameters: unknown): Record<string, unknown> {
  const skeleton: Record<string, unknown> = {};
  if (!isObject(parameters) || !isObject(parameters.properties)) return skeleton;
  for (const [name, schema] of Object.entries(parameters.properties)) {
    const type = isObject(schema) ? schema.type : undefined;
    const first = Array.isArray(type) ? type[0] : type;
    skeleton[name] =
      first === 'number' || first === 'integer' ? 0
        : first === 'boolean' ? false
          : first === 'array' ? []
            : first === 'object' ? {}
              : isObject(schema) && Array.isArray(schema.enum) && schema.enum.length > 0 ? schema.enum[0]
                : '';
  }
  return skeleton;
}
