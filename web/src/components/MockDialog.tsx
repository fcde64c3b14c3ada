// Answer a held call with a mock: pick a template, edit the JSON, send. Invalid JSON or a
// mock of the wrong shape is flagged as it is typed and cannot be sent.
import { lazy, Suspense, useEffect, useMemo, useRef, useState, type KeyboardEvent } from 'react';
import { api } from '../api/http';
import type { FlowJSON, Mock } from '../api/types.gen';
import { checkMock, mockTemplate, TEMPLATES, type TemplateKind } from '../lib/mock';
import { useAnswerText } from '../stores/details';

const JsonEditor = lazy(() => import('./JsonEditor'));

interface Props {
  flow: FlowJSON;
  /** The flow is still held (it may have timed out or been decided elsewhere). */
  held: boolean;
  onClose(): void;
}

export function MockDialog({ flow, held, onClose }: Props) {
  const dialog = useRef<HTMLDialogElement>(null);
  const { text: answer, state } = useAnswerText(flow);
  const [kind, setKind] = useState<TemplateKind>('real');
  const [touched, setTouched] = useState(false);
  const template = useMemo(
    () => mockTemplate(kind, { flow, detail: state.detail, text: answer }),
    // Rebuilt when the detail arrives, not on every streamed delta.
    [kind, state.detail, flow.tool_calls],
  );
  const [text, setText] = useState(template);
  const [save, setSave] = useState(false);
  const [sending, setSending] = useState(false);
  const [serverError, setServerError] = useState<string | null>(null);

  // Until the person edits, follow the template (it improves once the detail is loaded).
  useEffect(() => {
    if (!touched) setText(template);
  }, [template, touched]);

  useEffect(() => {
    const element = dialog.current!;
    if (!element.open) element.showModal();
    return () => element.close();
  }, []);

  const check = useMemo(() => checkMock(text), [text]);
  const problem = check.ok ? null : check.message;

  async function send(): Promise<void> {
    const current = checkMock(text);
    if (!current.ok || sending) return;
    setSending(true);
    setServerError(null);
    try {
      // checkMock made sure it has the shape of a Mock.
      await api.decide(flow.id, { action: 'mock', mock: current.mock as Mock, save });
      onClose();
    } catch (error) {
      setServerError((error as Error).message);
      setSending(false);
    }
  }

  function onKeyDown(event: KeyboardEvent): void {
    if (event.key === 'Enter' && (event.ctrlKey || event.metaKey) && !event.defaultPrevented) {
      event.preventDefault();
      void send();
    }
  }

  const message = problem ?? serverError;
  return (
    <dialog
      ref={dialog}
      className="mock-dialog"
      aria-labelledby="mock-title"
      onCancel={(event) => {
        event.preventDefault();
        onClose();
      }}
      onKeyDown={onKeyDown}
    >
      <div className="dialog-head">
        <h2 id="mock-title">Mock the answer</h2>
        <span className="muted mono ellipsis" title={flow.id}>
          {flow.model} · {flow.tool_calls.map((call) => call.name).join(', ') || flow.path} · {flow.id}
        </span>
      </div>
      <div className="dialog-bar">
        <label className="field">
          <span>Template</span>
          <select
            data-testid="mock-template"
            value={kind}
            onChange={(event) => {
              setKind(event.target.value as TemplateKind);
              setTouched(false);
            }}
          >
            {TEMPLATES.map(([value, name]) => <option key={value} value={value}>{name}</option>)}
          </select>
        </label>
        <label className="field check">
          <input type="checkbox" data-testid="mock-save" checked={save} onChange={(event) => setSave(event.target.checked)} />
          <span>Save as tape</span>
        </label>
        <span className="spacer" />
        <span className="muted hint">
          <kbd>Ctrl</kbd>+<kbd>Enter</kbd> send · <kbd>Esc</kbd> cancel
        </span>
      </div>
      <div className="editor-wrap" data-testid="mock-editor">
        <Suspense fallback={<pre className="json editor-loading">{text}</pre>}>
          <JsonEditor
            value={text}
            label="Mock JSON"
            onChange={(next, byUser) => {
              setText(next);
              if (byUser) {
                setTouched(true);
                setServerError(null);
              }
            }}
            onSubmit={() => void send()}
          />
        </Suspense>
      </div>
      {!held && <p className="notice">This call is no longer held: it was decided or timed out.</p>}
      <p className={`mock-error${message ? ' shown' : ''}`} data-testid="mock-error" role="alert">
        {message}
      </p>
      <div className="dialog-actions">
        <button type="button" data-testid="mock-cancel" onClick={onClose}>Cancel</button>
        <button type="button" className="primary" data-testid="mock-send" disabled={!check.ok || sending} onClick={() => void send()}>
          {sending ? 'Sending…' : 'Send mock'}
        </button>
      </div>
    </dialog>
  );
}
