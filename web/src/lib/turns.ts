// Short readings of a conversation, for places with room for one line.
import type { Conversation, Turn } from '../api/types.gen';

/** `text` on one line, cut to `max` characters with an ellipsis. */
export function shorten(text: string, max: number): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length <= max ? line : `${line.slice(0, Math.max(0, max - 1)).trimEnd()}…`;
}

function textOf(turn: Turn): string {
  return turn.parts
    .map((part) => (part.kind === 'text' ? part.text : ''))
    .filter(Boolean)
    .join(' ');
}

/**
 * The text of the last user message, or null when there is none. Tool results sent in a user
 * turn (as Anthropic does) are not a message of the user, so a turn without text is skipped.
 */
export function lastUserText(conversation: Conversation | null | undefined): string | null {
  const turns = conversation?.turns ?? [];
  for (let index = turns.length - 1; index >= 0; index -= 1) {
    const turn = turns[index]!;
    if (turn.role !== 'user') continue;
    const text = textOf(turn);
    if (text) return text;
  }
  return null;
}
