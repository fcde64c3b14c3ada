import { describe, expect, it } from 'vitest';
import type { FlowDetailJSON, FlowJSON } from '../api/types.gen';
import { argumentSkeleton, mockPath, mockTemplate, parseMock, TEMPLATES } from './mock';

const FLOW: FlowJSON = {
  id: 'f-000001',
  run: 'f',
  thread: null,
  state: 'INTERCEPT',
  source: 'upstream',
  method: 'POST',
  path: '/v1/chat/completions',
  scope: null,
  model: 'gpt-4o-mini',
  status: 200,
  streamed: true,
  tape: null,
  started_at: '2026-01-02T03:04:05.000Z',
  duration_ms: null,
  usage: null,
  tool_calls: [{ id: 'call_1', name: 'get_weather', arguments: { city: 'Lyon' } }],
  hold: {
    stage: 'response',
    since: '2026-01-02T03:04:05.000Z',
    deadline: '2026-01-02T03:09:05.000Z',
    timeout_s: 300,
  },
  decision: null,
  error: null,
  cost: null,
  saved: null,
  phases: null,
};

const DETAIL: FlowDetailJSON = {
  ...FLOW,
  history: [],
  chunks: [],
  answer_streamed: true,
  request_headers: {},
  response_headers: {},
  text: '',
  response: { choices: [{ message: { role: 'assistant', content: 'hi' } }] },
  conversation: {
    turns: [{ role: 'user', parts: [{ kind: 'text', text: 'Weather?' }] }],
    tools: [
      {
        name: 'get_forecast',
        parameters: {
          type: 'object',
          properties: {
            city: { type: 'string' },
            days: { type: 'integer' },
            metric: { type: ['boolean', 'null'] },
            hours: { type: 'array' },
            where: { type: 'object' },
            unit: { enum: ['c', 'f'] },
          },
        },
      },
    ],
    params: [['model', 'gpt-4o-mini']],
  },
};

const template = (kind: (typeof TEMPLATES)[number][0], flow: FlowJSON = FLOW, text = '') =>
  JSON.parse(mockTemplate(kind, { flow, detail: DETAIL, text })) as unknown;

describe('mockTemplate', () => {
  it('starts from the real answer: its text and tool calls', () => {
    expect(template('real', FLOW, 'Sunny.')).toEqual({
      content: 'Sunny.',
      tool_calls: [{ name: 'get_weather', arguments: { city: 'Lyon' } }],
    });
    expect(template('real')).toEqual({ tool_calls: [{ name: 'get_weather', arguments: { city: 'Lyon' } }] });
    expect(template('real', { ...FLOW, tool_calls: [] })).toEqual({ content: '' });
  });

  it('gives a call held before it is sent a text to answer with', () => {
    const before: FlowJSON = { ...FLOW, hold: { ...FLOW.hold!, stage: 'request' } };
    expect(template('real', before)).toEqual({ content: 'A made-up answer.' });
  });

  it('calls the request’s first tool with placeholder arguments', () => {
    expect(template('tool')).toEqual({
      tool_calls: [
        {
          name: 'get_forecast',
          arguments: { city: '', days: 0, metric: false, hours: [], where: {}, unit: 'c' },
        },
      ],
    });
  });

  it('offers an error and the whole response', () => {
    expect(template('error')).toEqual({
      error: { status: 500, message: 'A made-up error from playingpack.', retry: false },
    });
    expect(template('response')).toEqual({ response: DETAIL.response });
  });

  it('has a name for every kind', () => {
    expect(TEMPLATES.map(([kind]) => kind)).toEqual(['real', 'text', 'tool', 'error', 'response']);
  });
});

describe('argumentSkeleton', () => {
  it('is empty without properties', () => {
    expect(argumentSkeleton(undefined)).toEqual({});
    expect(argumentSkeleton({ type: 'object' })).toEqual({});
    expect(argumentSkeleton({ properties: [] })).toEqual({});
  });
});

describe('parseMock', () => {
  it('reads JSON, whatever it holds', () => {
    expect(parseMock('{"content": "x"}')).toEqual({ ok: true, mock: { content: 'x' } });
    expect(parseMock('[1]')).toEqual({ ok: true, mock: [1] });
  });

  it('says where JSON breaks', () => {
    const parsed = parseMock('{"content": "x",}');
    expect(parsed.ok).toBe(false);
    if (parsed.ok) return;
    expect(parsed.problem.message).toMatch(/^Not valid JSON: /);
    expect(parsed.problem.offset).toBe(16);
  });
});

describe('mockPath', () => {
  it.each([
    ['mock', []],
    ['mock.content', ['content']],
    ['mock.tool_calls[0].arguments', ['tool_calls', 0, 'arguments']],
    ['mock.response.choices[0].message', ['response', 'choices', 0, 'message']],
  ])('reads %j', (param, path) => {
    expect(mockPath(param)).toEqual(path);
  });

  it.each([null, 'flow', 'mockery', 'action'])('has no field of the mock in %j', (param) => {
    expect(mockPath(param)).toBeUndefined();
  });
});
