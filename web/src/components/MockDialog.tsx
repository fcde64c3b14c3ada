// Answer a held call with a mock: pick a template, edit the JSON, send. The server checks the
// mock as it is typed (its refusal is flagged where it points); a refused one cannot be sent.
import { lazy, Suspense, useEffect, useMemo, useRef, useState, type KeyboardEvent } from 'react';
import { api } from '../api/http';
import type { FlowJSON, Mock } from '../api/types.gen';
import { mockPath, mockTemplate, parseMock, TEMPLATES, type TemplateKind } from '../lib/mock';
import { useServerCheck } from '../lib/serverCheck';
import { useAnswerText } from '../stores/details';

const JsonEditor = lazy(() => import('./JsonEditor'));

interface Props {
  flow: FlowJSON;
  /** The flow is still held (it may have timed out or been decided elsewhere). */
  held: boolean;
  onClose: () => void;
}

export function MockDialog({ flow, held, onClose }: Props) {
  const dialog = useRef<HTMLDialogElement>(null);
  const { text: answer, state } = useAnswerText(flow);
  const [kind, setKind] = useState<TemplateKind>('real');
  const template = useMemo(
    () => mockTemplate(kind, { flow, detail: state.detail, text: answer }),
    // Rebuilt when the detail arrives, not on every streamed delta.
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [kind, state.detail, flow.tool_calls],
  );
  // What the person typed; until then the editor follows the template (it improves once the
  // detail is loaded).
  const [edited, setEdited] = useState<string | null>(null);
  const text = edited ?? template;
  const [save, setSave] = useState(false);
  const [sending, setSending] = useState(false);
  const [sendError, setSendError] = useState<string | null>(null);

  useEffect(() => {
    const element = dialog.current!;
    if (!element.open) element.showModal();
    return () => element.close();
  }, []);

  const parsed = useMemo(() => parseMock(text), [text]);
  const checked = useServerCheck(
    flow.id,
    text,
    parsed.ok ? parsed.mock : undefined,
    api.validateMock,
    mockPath,
  );
  const problem = parsed.ok ? (checked?.problem ?? null) : parsed.problem;

  async function send(): Promise<void> {
    if (!parsed.ok || checked?.refused || sending) return;
    setSending(true);
    setSendError(null);
    try {
      // The server says whether it is a Mock, as it does while the mock is typed.
      await api.decide(flow.id, { action: 'mock', mock: parsed.mock as Mock, save });
      onClose();
    } catch (error) {
      setSendError((error as Error).message);
      setSending(false);
    }
  }

  function onKeyDown(event: KeyboardEvent): void {
    if (event.key === 'Enter' && (event.ctrlKey || event.metaKey) && !event.defaultPrevented) {
      event.preventDefault();
      void send();
    }
  }

  const message = problem?.message ?? sendError;
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
              setEdited(null);
            }}
          >
            {TEMPLATES.map(([value, name]) => (
              <option key={value} value={value}>
                {name}
              </option>
            ))}
          </select>
        </label>
        <label className="field check">
          <input
            type="checkbox"
            data-testid="mock-save"
            checked={save}
            onChange={(event) => setSave(event.target.checked)}
          />
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
            problem={problem}
            label="Mock JSON"
            onChange={(next, byUser) => {
              if (!byUser) return;
              setEdited(next);
              setSendError(null);
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
        <button type="button" data-testid="mock-cancel" onClick={onClose}>
          Cancel
        </button>
        <button
          type="button"
          className="primary"
          data-testid="mock-send"
          disabled={!parsed.ok || checked?.refused === true || sending}
          onClick={() => void send()}
        >
          {sending ? 'Sending…' : 'Send mock'}
        </button>
      </div>
    </dialog>
  );
}
