import { describe, expect, it } from 'vitest';
import type { ThreadDetailJSON, ThreadStepJSON } from '../api/types.gen';
import { contentText, threadItems } from './thread';

function step(flow: string, extra: Partial<ThreadStepJSON>): ThreadStepJSON {
  return {
    flow,
    model: 'gpt-4o-mini',
    source: 'upstream',
    state: 'COMPLETE',
    status: 200,
    started_at: '2026-01-02T03:04:05.000Z',
    duration_ms: 320,
    usage: { input_tokens: 40, output_tokens: 12, total_tokens: 52 },
    cost: 0.000013,
    retry_of: null,
    input: [],
    tool_names: {},
    answer: null,
    error: null,
    ...extra,
  };
}

const THREAD: ThreadDetailJSON = {
  id: 'r-000001',
  run: 'r',
  first_message: 'What is the weather in Paris?',
  steps: 2,
  tools: ['get_weather'],
  models: ['gpt-4o-mini'],
  input_tokens: 90,
  output_tokens: 30,
  cost: 0.00003,
  started_at: '2026-01-02T03:04:05.000Z',
  duration_ms: 900,
  system: 'You are a weather assistant.',
  step_list: [
    step('r-000001', {
      input: [
        { role: 'system', parts: [{ kind: 'text', text: 'You are a weather assistant.' }] },
        { role: 'user', parts: [{ kind: 'text', text: 'What is the weather in Paris?' }] },
      ],
      answer: {
        text: '',
        reasoning: 'The user wants the weather; call the tool.',
        tool_calls: [{ id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}' }],
        finish_reason: 'tool_calls',
      },
    }),
    step('r-000002', {
      input: [
        {
          role: 'assistant',
          parts: [{ kind: 'tool_call', name: 'get_weather', arguments: '{"city":"Paris"}', id: 'call_1' }],
        },
        { role: 'tool', parts: [{ kind: 'tool_result', content: '18 °C, light rain', id: 'call_1' }] },
      ],
      answer: {
        text: 'It is 18 °C in Paris, with light rain.',
        reasoning: '',
        tool_calls: [],
        finish_reason: 'stop',
      },
      cost: null,
    }),
  ],
};

describe('threadItems', () => {
  it('reads a tool round trip as the conversation, each result under the call it answers', () => {
    const items = threadItems(THREAD);
    expect(items.map((item) => item.kind)).toEqual(['system', 'message', 'step', 'tool_result', 'step']);
    expect(items[0]).toEqual({ kind: 'system', text: 'You are a weather assistant.' });
    expect(items[1]).toMatchObject({ role: 'user', text: 'What is the weather in Paris?' });
    expect(items[2]).toMatchObject({
      number: 1,
      reasoning: 'The user wants the weather; call the tool.',
      toolCalls: [{ id: 'call_1', name: 'get_weather', arguments: '{\n  "city": "Paris"\n}' }],
    });
    expect(items[3]).toEqual({
      kind: 'tool_result',
      callId: 'call_1',
      answers: { name: 'get_weather', step: 1 },
      content: '18 °C, light rain',
    });
    expect(items[4]).toMatchObject({ number: 2, text: 'It is 18 °C in Paris, with light rain.' });
  });

  it('keeps an input assistant turn that is not the answer before, with its tool calls', () => {
    const thread: ThreadDetailJSON = {
      ...THREAD,
      system: null,
      step_list: [
        step('r-000005', {
          input: [
            { role: 'user', parts: [{ kind: 'text', text: 'Go on' }] },
            {
              role: 'assistant',
              parts: [{ kind: 'tool_call', name: 'search', arguments: { q: 'x' }, id: 'call_0' }],
            },
            {
              role: 'tool',
              parts: [{ kind: 'tool_result', content: [{ type: 'text', text: 'found' }], id: 'call_0' }],
            },
            { role: 'tool', parts: [{ kind: 'tool_result', content: 'lost', id: 'call_9' }] },
          ],
        }),
      ],
    };
    const items = threadItems(thread);
    expect(items.map((item) => item.kind)).toEqual([
      'message',
      'message',
      'tool_result',
      'tool_result',
      'step',
    ]);
    expect(items[1]).toMatchObject({ role: 'assistant', text: 'search({\n  "q": "x"\n})' });
    expect(items[2]).toMatchObject({ answers: { name: 'search', step: null }, content: 'found' });
    expect(items[3]).toMatchObject({ callId: 'call_9', answers: null });
  });

  it('names the tool call a result answers as the server does when no step here made it', () => {
    const thread: ThreadDetailJSON = {
      ...THREAD,
      system: null,
      step_list: [
        step('r-7', {
          input: [{ role: 'tool', parts: [{ kind: 'tool_result', content: 'done', id: 'call_x' }] }],
          tool_names: { call_x: 'book_table' },
        }),
      ],
    };
    expect(threadItems(thread)[0]).toMatchObject({ answers: { name: 'book_table', step: null } });
  });

  it('names a result by its own tool name when the format gives one and no call id (Gemini, Ollama)', () => {
    const thread: ThreadDetailJSON = {
      ...THREAD,
      system: null,
      step_list: [
        step('r-1', {
          answer: {
            text: '',
            reasoning: '',
            tool_calls: [{ id: '', name: 'get_weather', arguments: '{"city":"Oslo"}' }],
            finish_reason: 'STOP',
          },
        }),
        step('r-2', {
          input: [
            {
              role: 'user',
              parts: [{ kind: 'tool_result', content: { temp: -3 }, name: 'get_weather' }],
            },
          ],
        }),
        step('r-3', {
          input: [
            { role: 'tool', parts: [{ kind: 'tool_result', content: 'Sunny', id: 'c1', name: 'get_time' }] },
          ],
          tool_names: { c1: 'something_else' },
        }),
      ],
    };
    const results = threadItems(thread).filter((item) => item.kind === 'tool_result');
    expect(results).toMatchObject([
      { callId: null, answers: { name: 'get_weather', step: null } },
      { callId: 'c1', answers: { name: 'get_time', step: null } },
    ]);
  });

  it('shows a system turn that differs from the thread system prompt as a message', () => {
    const thread: ThreadDetailJSON = {
      ...THREAD,
      step_list: [step('r-1', { input: [{ role: 'system', parts: [{ kind: 'text', text: 'Be brief.' }] }] })],
    };
    expect(threadItems(thread).map((item) => item.kind)).toEqual(['system', 'message', 'step']);
  });
});

describe('contentText', () => {
  it('shows text as is, text blocks joined, and other content as pretty JSON', () => {
    expect(contentText('plain')).toBe('plain');
    expect(
      contentText([
        { type: 'text', text: 'a' },
        { type: 'text', text: 'b' },
      ]),
    ).toBe('a\nb');
    expect(contentText({ temp: 18 })).toBe('{\n  "temp": 18\n}');
  });
});
