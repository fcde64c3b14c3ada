import { describe, expect, it } from 'vitest';
import {
  canDropLastStep,
  hasTools,
  lastUserMessage,
  modelOf,
  parseBody,
  requestPath,
  temperatureText,
  withLastUserMessage,
  withModel,
  withoutLastStep,
  withoutTools,
  withTemperature,
  withTools,
  type Body,
} from './requestEdit';

const TOOLS = [{ type: 'function', function: { name: 'get_weather', parameters: {} } }];

// An agent's third call: asked, called a tool, got its result.
const CHAT: Body = {
  model: 'gpt-4o-mini',
  temperature: 0.2,
  tools: TOOLS,
  tool_choice: 'auto',
  messages: [
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: 'Weather in Paris?' },
    {
      role: 'assistant',
      content: null,
      tool_calls: [{ id: 'c1', type: 'function', function: { name: 'get_weather', arguments: '{}' } }],
    },
    { role: 'tool', tool_call_id: 'c1', content: '{"temp_c": 14}' },
  ],
};

const ANTHROPIC: Body = {
  model: 'claude-sonnet-4-5',
  max_tokens: 100,
  system: 'Be brief.',
  tools: [{ name: 'get_weather', input_schema: {} }],
  messages: [
    { role: 'user', content: [{ type: 'text', text: 'Weather in Paris?' }] },
    { role: 'assistant', content: [{ type: 'tool_use', id: 't1', name: 'get_weather', input: {} }] },
    { role: 'user', content: [{ type: 'tool_result', tool_use_id: 't1', content: '14 °C' }] },
  ],
};

const RESPONSES: Body = {
  model: 'gpt-4.1-mini',
  tools: [{ type: 'function', name: 'get_weather', parameters: {} }],
  input: [
    { role: 'user', content: [{ type: 'input_text', text: 'Weather in Paris?' }] },
    { type: 'reasoning', id: 'rs_1', summary: [] },
    { type: 'function_call', call_id: 'c1', name: 'get_weather', arguments: '{}' },
    { type: 'function_call', call_id: 'c2', name: 'get_weather', arguments: '{}' },
    { type: 'function_call_output', call_id: 'c1', output: '14' },
    { type: 'function_call_output', call_id: 'c2', output: '15' },
  ],
};

describe('the last user message', () => {
  it('is read from chat, Anthropic and Responses requests', () => {
    expect(lastUserMessage(CHAT)).toBe('Weather in Paris?');
    // The tool result, a user turn without text, is not it.
    expect(lastUserMessage(ANTHROPIC)).toBe('Weather in Paris?');
    expect(lastUserMessage(RESPONSES)).toBe('Weather in Paris?');
    expect(lastUserMessage({ model: 'm', input: 'Hi there' })).toBe('Hi there');
    expect(lastUserMessage({ model: 'm', messages: [{ role: 'system', content: 'x' }] })).toBeNull();
    expect(lastUserMessage({ model: 'm', prompt: 'x' })).toBeNull();
  });

  it('is written where it was read, keeping its shape', () => {
    const chat = withLastUserMessage(CHAT, 'Weather in Lyon?');
    expect((chat.messages as Body[])[1]).toEqual({ role: 'user', content: 'Weather in Lyon?' });
    expect((chat.messages as Body[])[3]).toBe((CHAT.messages as Body[])[3]);
    expect(lastUserMessage(CHAT)).toBe('Weather in Paris?'); // the original is left alone

    const anthropic = withLastUserMessage(ANTHROPIC, 'Weather in Lyon?');
    expect((anthropic.messages as Body[])[0]!.content).toEqual([{ type: 'text', text: 'Weather in Lyon?' }]);
    expect((anthropic.messages as Body[])[2]).toEqual((ANTHROPIC.messages as Body[])[2]);

    const responses = withLastUserMessage(RESPONSES, 'Weather in Lyon?');
    expect((responses.input as Body[])[0]!.content).toEqual([
      { type: 'input_text', text: 'Weather in Lyon?' },
    ]);
    expect(withLastUserMessage({ model: 'm', input: 'Hi' }, 'Bye')).toEqual({ model: 'm', input: 'Bye' });
  });

  it('takes the place of several text parts, keeping the other parts', () => {
    const image = { type: 'image_url', image_url: { url: 'data:,' } };
    const body: Body = {
      messages: [
        {
          role: 'user',
          content: [{ type: 'text', text: 'one' }, image, { type: 'text', text: 'two' }],
        },
      ],
    };
    expect(lastUserMessage(body)).toBe('one\n\ntwo');
    expect((withLastUserMessage(body, 'three').messages as Body[])[0]!.content).toEqual([
      { type: 'text', text: 'three' },
      image,
    ]);
  });
});

describe('dropping the last step', () => {
  it('removes the last assistant turn and its tool results (chat)', () => {
    expect(canDropLastStep(CHAT)).toBe(true);
    expect(withoutLastStep(CHAT).messages).toEqual((CHAT.messages as Body[]).slice(0, 2));
  });

  it('removes the assistant turn and the user turn carrying its tool results (Anthropic)', () => {
    expect(withoutLastStep(ANTHROPIC).messages).toEqual((ANTHROPIC.messages as Body[]).slice(0, 1));
  });

  it('removes the reasoning, the parallel tool calls and their outputs (Responses)', () => {
    expect(withoutLastStep(RESPONSES).input).toEqual((RESPONSES.input as Body[]).slice(0, 1));
  });

  it('goes back one step at a time, and leaves a first call alone', () => {
    const second: Body = {
      messages: [
        ...(CHAT.messages as Body[]),
        { role: 'assistant', content: 'Take an umbrella.' },
        { role: 'user', content: 'And in Lyon?' },
      ],
    };
    expect(withoutLastStep(second).messages).toEqual(CHAT.messages);
    const first: Body = { messages: [{ role: 'user', content: 'Hi' }] };
    expect(canDropLastStep(first)).toBe(false);
    expect(withoutLastStep(first)).toBe(first);
    expect(canDropLastStep({ input: 'Hi' })).toBe(false);
  });
});

describe('the tools', () => {
  it('are removed with tool_choice and put back as they were', () => {
    expect(hasTools(CHAT)).toBe(true);
    const { body, removed } = withoutTools(CHAT);
    expect(hasTools(body)).toBe(false);
    expect('tool_choice' in body).toBe(false);
    expect(removed).toEqual({ tools: TOOLS, tool_choice: 'auto' });
    expect(withTools(body, removed)).toEqual(CHAT);
  });

  it('off on Anthropic and Responses requests', () => {
    expect(hasTools(withoutTools(ANTHROPIC).body)).toBe(false);
    expect(hasTools(withoutTools(RESPONSES).body)).toBe(false);
    expect(withoutTools({ model: 'm' }).removed).toEqual({});
  });
});

describe('model and temperature', () => {
  it('read and write the fields; an empty temperature removes it', () => {
    expect(modelOf(CHAT)).toBe('gpt-4o-mini');
    expect(withModel(CHAT, 'gpt-4o').model).toBe('gpt-4o');
    expect(temperatureText(CHAT)).toBe('0.2');
    expect(temperatureText({})).toBe('');
    expect(withTemperature(CHAT, '0.7').temperature).toBe(0.7);
    expect('temperature' in withTemperature(CHAT, ' ')).toBe(false);
    // Kept as typed, for the server to refuse with its message.
    expect(withTemperature(CHAT, 'warm').temperature).toBe('warm');
  });
});

describe('the editor text', () => {
  it('is a body only when it is a JSON object', () => {
    expect(parseBody('{"model": "m"}')).toEqual({ model: 'm' });
    expect(parseBody('[1]')).toBeNull();
    expect(parseBody('{')).toBeNull();
  });

  it("names the request's field a refusal points at", () => {
    expect(requestPath('request.messages[2].content')).toEqual(['messages', 2, 'content']);
    expect(requestPath('request')).toEqual([]);
    expect(requestPath('to')).toBeUndefined();
    expect(requestPath(null)).toBeUndefined();
  });
});
