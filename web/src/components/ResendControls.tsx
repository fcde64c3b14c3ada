// The resend editor's quick controls, each reading and writing the request body: model, last
// user message, temperature, tools on or off, and dropping the last step.
import { useEffect, useId, useRef, useState, type ReactNode } from 'react';
import {
  canDropLastStep,
  hasTools,
  lastUserMessage,
  modelOf,
  temperatureText,
  withLastUserMessage,
  withModel,
  withoutLastStep,
  withoutTools,
  withTemperature,
  withTools,
  type Body,
  type Tools,
} from '../lib/requestEdit';

interface Props {
  /** The editor's request, or null while its text is no JSON object (the controls wait). */
  body: Body | null;
  onBody: (body: Body) => void;
  /** The refusal's message for each control's field (`model`, `temperature`, ...). */
  problems: Partial<Record<ControlName, string>>;
}

export type ControlName = 'model' | 'message' | 'temperature' | 'tools';

export function ResendControls({ body, onBody, problems }: Props) {
  // The tools taken out, to put back when they are switched on again.
  const [removed, setRemoved] = useState<Tools | null>(null);
  // What is typed in the temperature while it is being typed ("0." is not yet a number).
  const [temperature, setTemperature] = useState<string | null>(null);
  const message = body ? lastUserMessage(body) : null;
  const tools = body ? hasTools(body) : false;
  // The message is what is edited most: it has the focus once the request is in.
  const messageField = useRef<HTMLTextAreaElement>(null);
  const hasMessage = message !== null;
  const focused = useRef(false);
  const id = useId();
  // The refusal under a control describes its field.
  const described = (name: ControlName) => (problems[name] ? `${id}-${name}` : undefined);
  useEffect(() => {
    if (!hasMessage || focused.current) return;
    focused.current = true;
    messageField.current?.focus();
  }, [hasMessage]);

  return (
    <fieldset className="resend-controls" disabled={body === null}>
      <legend className="sr-only">Quick edits</legend>
      <Control problem={problems.model} id={`${id}-model`}>
        <label className="field">
          <span>Model</span>
          <input
            type="text"
            spellCheck={false}
            aria-invalid={problems.model ? true : undefined}
            aria-describedby={described('model')}
            value={body ? modelOf(body) : ''}
            onChange={(event) => body && onBody(withModel(body, event.target.value))}
          />
        </label>
      </Control>
      <Control problem={problems.temperature} id={`${id}-temperature`}>
        <label className="field">
          <span>Temperature</span>
          <input
            type="text"
            inputMode="decimal"
            placeholder="absent"
            className="narrow"
            aria-invalid={problems.temperature ? true : undefined}
            aria-describedby={described('temperature')}
            value={temperature ?? (body ? temperatureText(body) : '')}
            onChange={(event) => {
              setTemperature(event.target.value);
              if (body) onBody(withTemperature(body, event.target.value));
            }}
            onBlur={() => setTemperature(null)}
          />
        </label>
      </Control>
      <Control problem={problems.tools} id={`${id}-tools`}>
        <label className="field check">
          <input
            type="checkbox"
            checked={tools}
            aria-describedby={described('tools')}
            disabled={!tools && removed === null}
            onChange={(event) => {
              if (!body) return;
              if (event.target.checked) {
                onBody(withTools(body, removed ?? {}));
                setRemoved(null);
              } else {
                const taken = withoutTools(body);
                setRemoved(taken.removed);
                onBody(taken.body);
              }
            }}
          />
          <span>Tools</span>
        </label>
      </Control>
      <button
        type="button"
        disabled={!body || !canDropLastStep(body)}
        title="Remove the last answer, its tool calls and their results: the call is asked again from the step before"
        onClick={() => body && onBody(withoutLastStep(body))}
      >
        Drop the last step
      </button>
      <Control problem={problems.message} id={`${id}-message`} className="message-control">
        <label className="field message-field">
          <span>Last user message</span>
          <textarea
            ref={messageField}
            rows={3}
            disabled={message === null}
            aria-invalid={problems.message ? true : undefined}
            aria-describedby={described('message')}
            placeholder={message === null ? 'This request has no user message.' : undefined}
            value={message ?? ''}
            onChange={(event) => body && onBody(withLastUserMessage(body, event.target.value))}
          />
        </label>
      </Control>
    </fieldset>
  );
}

/** A control with, under it, the server's refusal when it names the control's field. */
function Control({
  problem,
  id,
  className,
  children,
}: {
  problem: string | undefined;
  id: string;
  className?: string;
  children: ReactNode;
}) {
  return (
    <div className={`control${className ? ` ${className}` : ''}`}>
      {children}
      {problem && (
        <span id={id} className="field-problem">
          {problem}
        </span>
      )}
    </div>
  );
}
