import { describe, expect, it } from 'vitest';
import { lastUserText, shorten } from './turns';

describe('shorten', () => {
  it('puts text on one line and cuts it with an ellipsis', () => {
    expect(shorten('  plan\n a   trip ', 40)).toBe('plan a trip');
    expect(shorten('abcdefghij', 6)).toBe('abcde…');
  });
});

describe('lastUserText', () => {
  it('is the last user message with text, skipping tool results sent as the user', () => {
    const conversation = {
      tools: [],
      params: [],
      turns: [
        { role: 'system', parts: [{ kind: 'text' as const, text: 'Be brief.' }] },
        { role: 'user', parts: [{ kind: 'text' as const, text: 'Weather in Oslo?' }] },
        {
          role: 'assistant',
          parts: [{ kind: 'tool_call' as const, id: 't1', name: 'weather', arguments: {} }],
        },
        { role: 'user', parts: [{ kind: 'tool_result' as const, id: 't1', content: 'rain' }] },
      ],
    };
    expect(lastUserText(conversation)).toBe('Weather in Oslo?');
    expect(lastUserText({ tools: [], params: [], turns: [] })).toBeNull();
    expect(lastUserText(null)).toBeNull();
  });
});
