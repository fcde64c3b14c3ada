// A thread read as the conversation: the system prompt, then for each step the turns it added
// (the user's message, tool results, each under the tool call it answers) and the model's answer.
import type { ThreadDetailJSON, ThreadStepJSON, Turn } from '../api/types.gen';
import { prettyArguments } from './format';

export interface ToolCallItem {
  id: string | null;
  name: string;
  /** The arguments, pretty-printed when they are JSON. */
  arguments: string;
}

export type ThreadItem =
  | { kind: 'system'; text: string }
  | { kind: 'message'; role: string; name: string | null; text: string }
  | {
      kind: 'tool_result';
      /** The id of the tool call it answers, as the request gives it. */
      callId: string | null;
      /** The tool call it answers, and the step that made it when one of this thread's did. */
      answers: { name: string; step: number | null } | null;
      content: string;
    }
  | {
      kind: 'step';
      /** 1 for the thread's first call. */
      number: number;
      step: ThreadStepJSON;
      text: string;
      reasoning: string;
      toolCalls: ToolCallItem[];
    };

/** Text content as shown: text as is, text blocks joined, anything else as pretty JSON. */
export function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content) && content.every(isTextBlock))
    return content.map((block) => block.text).join('\n');
  return JSON.stringify(content, null, 2) ?? '';
}

function isTextBlock(value: unknown): value is { text: string } {
  return (
    typeof value === 'object' && value !== null && typeof (value as { text?: unknown }).text === 'string'
  );
}

function turnText(turn: Turn): string {
  return turn.parts
    .map((part) => {
      switch (part.kind) {
        case 'text':
          return part.text;
        case 'image':
          return `[image] ${part.source.startsWith('data:') ? part.source.slice(0, 40) + '…' : part.source}`;
        case 'json':
          return JSON.stringify(part.value, null, 2) ?? '';
        default:
          return '';
      }
    })
    .filter((text) => text !== '')
    .join('\n');
}

/** The items of `thread`, in the order the conversation went. */
export function threadItems(thread: ThreadDetailJSON): ThreadItem[] {
  const items: ThreadItem[] = [];
  const system = thread.system?.trim() ? thread.system : null;
  if (system) items.push({ kind: 'system', text: system });
  // Tool calls by id, as made so far: a result names the call it answers.
  const calls = new Map<string, { name: string; step: number | null }>();

  thread.step_list.forEach((step, index) => {
    const number = index + 1;
    for (const turn of step.input) {
      const text = turnText(turn);
      if (turn.role === 'system' && (text === system || text === '')) continue;
      if (index > 0 && echoesAnswer(turn, text, thread.step_list[index - 1]!)) continue;
      // Tool calls in an input are ones the agent says were made before this thread began.
      const made = turn.parts.flatMap((part) =>
        part.kind === 'tool_call'
          ? [{ id: part.id ?? null, name: part.name, arguments: prettyArguments(part.arguments) }]
          : [],
      );
      for (const call of made) if (call.id) calls.set(call.id, { name: call.name, step: null });
      const said = [text, ...made.map((call) => `${call.name}(${call.arguments})`)].filter(Boolean);
      if (said.length)
        items.push({ kind: 'message', role: turn.role, name: turn.name ?? null, text: said.join('\n') });
      for (const part of turn.parts) {
        if (part.kind !== 'tool_result') continue;
        const callId = part.id ?? null;
        items.push({
          kind: 'tool_result',
          callId,
          answers: answered(part.name ?? null, callId, calls, step),
          content: contentText(part.content),
        });
      }
    }
    const answer = step.answer;
    const toolCalls = (answer?.tool_calls ?? []).map((call) => ({
      id: call.id || null,
      name: call.name,
      arguments: prettyArguments(call.arguments),
    }));
    for (const call of toolCalls) if (call.id) calls.set(call.id, { name: call.name, step: number });
    items.push({
      kind: 'step',
      number,
      step,
      text: answer?.text ?? '',
      reasoning: answer?.reasoning ?? '',
      toolCalls,
    });
  });
  return items;
}

/** Whether `turn` is the answer of the step before, sent back as part of the input. */
function echoesAnswer(turn: Turn, text: string, before: ThreadStepJSON): boolean {
  const answer = before.answer;
  if (turn.role !== 'assistant' || !answer) return false;
  const ids = turn.parts.flatMap((part) => (part.kind === 'tool_call' ? [part.id ?? ''] : []));
  const answered = new Set(answer.tool_calls.map((call) => call.id));
  return text.trim() === answer.text.trim() && ids.every((id) => answered.has(id));
}

/** The call a result answers: named by the result itself where its format says (Gemini,
 * Ollama), else by `callId`'s call, made by a step seen here or as the server names it. */
function answered(
  resultName: string | null,
  callId: string | null,
  calls: ReadonlyMap<string, { name: string; step: number | null }>,
  step: ThreadStepJSON,
): { name: string; step: number | null } | null {
  const made = callId ? calls.get(callId) : undefined;
  if (resultName) return { name: resultName, step: made?.step ?? null };
  const name = callId ? step.tool_names[callId] : undefined;
  return made ?? (name ? { name, step: null } : null);
}
