// A request body as a conversation (roles and text, tool calls, tools), or as raw JSON. The
// server reads the body as a conversation, the same way for every API.
import { memo, useState } from 'react';
import type { Conversation as ConversationJSON, Turn } from '../api/types.gen';
import { pretty, prettyArguments } from '../lib/format';
import { JsonView } from './JsonView';

/** One part of a turn: text, a tool call or its result, an image, or other JSON. */
export type Part = Turn['parts'][number];

interface Props {
  body: unknown;
  /** The body as read by the server; null for a request it does not read. */
  conversation: ConversationJSON | null;
}

export const RequestView = memo(function RequestView({ body, conversation }: Props) {
  const [raw, setRaw] = useState(false);
  if (body === null || body === undefined) return <p className="empty">No request body.</p>;
  return (
    <div className="request-view">
      {conversation && <Toggle raw={raw} onRaw={setRaw} />}
      {raw || !conversation ? (
        <JsonView value={body} testId="request-json" label="Request JSON" />
      ) : (
        <ConversationView conversation={conversation} />
      )}
    </div>
  );
});

export function Toggle({ raw, onRaw }: { raw: boolean; onRaw: (raw: boolean) => void }) {
  return (
    <div className="toggle" role="group" aria-label="Show as">
      <button type="button" aria-pressed={!raw} onClick={() => onRaw(false)}>
        Readable
      </button>
      <button type="button" aria-pressed={raw} onClick={() => onRaw(true)}>
        Raw JSON
      </button>
    </div>
  );
}

/** A request's parameters, turns (roles and parts) and the tools it offers. */
export function ConversationView({
  conversation: { turns, tools, params },
}: {
  conversation: ConversationJSON;
}) {
  return (
    <>
      {params.length > 0 && (
        <dl className="params">
          {params.map(([key, value]) => (
            <div key={key}>
              <dt>{key}</dt>
              <dd className="mono ellipsis" title={typeof value === 'string' ? value : JSON.stringify(value)}>
                {typeof value === 'string' ? value : JSON.stringify(value)}
              </dd>
            </div>
          ))}
        </dl>
      )}
      <ol className="turns">
        {turns.map((turn, index) => (
          <TurnView key={index} turn={turn} />
        ))}
      </ol>
      {tools.length > 0 && (
        <details className="tools-list">
          <summary>
            Tools ({tools.length}): {tools.map((tool) => tool.name).join(', ')}
          </summary>
          {tools.map((tool, index) => (
            <div key={index} className="tool">
              <span className="tool-name">{tool.name}</span>
              {tool.description && <span className="muted"> — {tool.description}</span>}
              {tool.parameters !== undefined && (
                <JsonView value={tool.parameters} label={`Parameters of ${tool.name}`} />
              )}
            </div>
          ))}
        </details>
      )}
    </>
  );
}

function TurnView({ turn }: { turn: Turn }) {
  return (
    <li className="turn">
      <span className={`role role-${turn.role}`}>
        {turn.role}
        {turn.name && <span className="muted"> · {turn.name}</span>}
      </span>
      <div className="parts">
        {turn.parts.map((part, index) => (
          <PartView key={index} part={part} />
        ))}
      </div>
    </li>
  );
}

export function PartView({ part }: { part: Part }) {
  switch (part.kind) {
    case 'text':
      return <p className="text">{part.text}</p>;
    case 'tool_call':
      return (
        <div className="tool-call">
          <span className="tool-name">{part.name}</span>
          {part.id && <span className="muted mono"> {part.id}</span>}
          <JsonView text={prettyArguments(part.arguments)} label={`Arguments of ${part.name}`} />
        </div>
      );
    case 'tool_result':
      return (
        <div className="tool-result">
          <span className="muted">result{(part.id ?? part.name) ? ` of ${part.id ?? part.name}` : ''}</span>
          {typeof part.content === 'string' ? (
            <p className="text">{part.content}</p>
          ) : (
            <JsonView value={part.content} />
          )}
        </div>
      );
    case 'image':
      return (
        <p className="muted mono ellipsis" title={part.source}>
          [image] {part.source.startsWith('data:') ? `${part.source.slice(0, 40)}…` : part.source}
        </p>
      );
    case 'json':
      return <JsonView text={pretty(part.value)} />;
  }
}
