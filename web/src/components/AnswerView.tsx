// The answer: text (growing as it streams), tool calls, usage, error, and the whole JSON.
import type { FlowDetailJSON, FlowJSON } from '../api/types.gen';
import { count, prettyArguments } from '../lib/format';
import { isFinished } from '../stores/live';
import { JsonView } from './JsonView';

export function AnswerView({ flow, detail, text }: { flow: FlowJSON; detail: FlowDetailJSON; text: string }) {
  const running = !isFinished(flow.state) && flow.hold === null;
  const calls = flow.tool_calls;
  return (
    <div className="answer-view">
      {flow.error && (
        <div className="error-box" role="alert" data-testid="detail-error">
          <strong>Error</strong> {flow.error}
        </div>
      )}
      {!flow.error && flow.status !== null && flow.status >= 400 && (
        <div className="error-box" data-testid="detail-error">
          <strong>HTTP {flow.status}</strong>
          {flow.decision === 'mock' ? 'A mocked error was delivered.' : 'The answer was an error.'}
        </div>
      )}
      <section aria-label="Answer text">
        <h3>Text</h3>
        <pre className={`answer-text${running ? ' streaming' : ''}`} data-testid="detail-text">
          {text}
        </pre>
        {!text && !running && (
          <p className="muted">No text{calls.length ? ' (the answer is tool calls)' : ''}.</p>
        )}
      </section>
      {calls.length > 0 && (
        <section aria-label="Tool calls" data-testid="detail-tool-calls">
          <h3>Tool calls</h3>
          {calls.map((call, index) => (
            <div key={call.id || index} className="tool-call">
              <span className="tool-name">{call.name}</span>
              {call.id && <span className="muted mono"> {call.id}</span>}
              <JsonView text={prettyArguments(call.arguments)} label={`Arguments of ${call.name}`} />
            </div>
          ))}
        </section>
      )}
      {flow.usage && (
        <section aria-label="Usage">
          <h3>Usage</h3>
          <dl className="usage">
            <div>
              <dt>input</dt>
              <dd>{count(flow.usage.input_tokens)}</dd>
            </div>
            <div>
              <dt>output</dt>
              <dd>{count(flow.usage.output_tokens)}</dd>
            </div>
            <div>
              <dt>total</dt>
              <dd>{count(flow.usage.total_tokens)}</dd>
            </div>
            {flow.source === 'tape' && (
              <div className="saved">
                <dt>saved</dt>
                <dd>served from a tape</dd>
              </div>
            )}
          </dl>
        </section>
      )}
      {detail.response !== null && detail.response !== undefined && (
        <details className="raw">
          <summary>Response JSON</summary>
          <JsonView value={detail.response} testId="response-json" label="Response JSON" />
        </details>
      )}
    </div>
  );
}
