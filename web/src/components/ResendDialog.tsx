// Edit and resend: the request in the JSON editor, with quick controls that stay in step with
// it, sent to the upstream or answered from the tapes. The server checks the request as it is
// typed (its refusal is shown where it points); a refused one cannot be sent.
import { lazy, Suspense, useEffect, useMemo, useRef, useState, type KeyboardEvent } from 'react';
import { api, type ResendTo } from '../api/http';
import { refLabel } from '../lib/compare';
import { parseMock, type MockProblem } from '../lib/mock';
import { bodyText, parseBody, requestPath, type Body } from '../lib/requestEdit';
import { useServerCheck } from '../lib/serverCheck';
import { resend, useAsking } from '../stores/resending';
import { ResendControls, type ControlName } from './ResendControls';

const JsonEditor = lazy(() => import('./JsonEditor'));

export interface ResendSource {
  /** A flow's id, or `tape:<key>`. */
  ref: string;
  /** The endpoint, e.g. `/v1/chat/completions`. */
  path: string;
  /** The request body; undefined while it loads, null when it is not known. */
  request: unknown;
  model: string | null;
}

interface Props {
  source: ResendSource;
  onClose: () => void;
  /** The resend started as flow `id`. */
  onSent: (id: string) => void;
}

export function ResendDialog({ source, onClose, onSent }: Props) {
  const dialog = useRef<HTMLDialogElement>(null);
  const original = source.request === undefined || source.request === null ? null : bodyText(source.request);
  // What the person changed; until then the editor shows the request (once it has loaded).
  const [edited, setEdited] = useState<string | null>(null);
  const text = edited ?? original ?? '';
  const [to, setTo] = useState<ResendTo>('upstream');
  const [sending, setSending] = useState(false);
  // The server's refusal of the last send (kept with the call, for its detail to show too).
  const asking = useAsking(source.ref);
  const [sent, setSent] = useState(false);
  const sendError = sent ? asking.error : null;

  useEffect(() => {
    const element = dialog.current!;
    if (!element.open) element.showModal();
    return () => element.close();
  }, []);

  const body = useMemo(() => parseBody(text), [text]);
  const checked = useServerCheck(source.path, text, body ?? undefined, api.validateRequest, requestPath);
  const problem: MockProblem | null =
    original === null ? null : body === null ? syntaxProblem(text) : (checked?.problem ?? null);
  const ready = body !== null && checked !== null && !checked.refused && !sending;

  async function send(): Promise<void> {
    if (!ready) return;
    setSending(true);
    setSent(true);
    const id = await resend(source.ref, { request: body, to });
    if (id === null) {
      setSending(false);
      return;
    }
    onSent(id);
    onClose();
  }

  function onKeyDown(event: KeyboardEvent): void {
    if (event.key === 'Enter' && (event.ctrlKey || event.metaKey) && !event.defaultPrevented) {
      event.preventDefault();
      void send();
    }
  }

  function change(next: Body): void {
    setEdited(bodyText(next));
    setSent(false);
  }

  const field = controlOf(problem?.path);
  const message = (field === null ? problem?.message : null) ?? sendError;
  return (
    <dialog
      ref={dialog}
      className="mock-dialog resend-dialog"
      aria-labelledby="resend-title"
      onCancel={(event) => {
        event.preventDefault();
        onClose();
      }}
      onKeyDown={onKeyDown}
    >
      <div className="dialog-head">
        <h2 id="resend-title">Edit and resend</h2>
        <span className="muted mono ellipsis" title={source.ref}>
          {source.model ? `${source.model} · ` : ''}
          {source.path} · {refLabel(source.ref)}
        </span>
      </div>
      <ResendControls
        body={original === null ? null : body}
        onBody={change}
        problems={field && problem ? { [field]: problem.message } : {}}
      />
      <div className="editor-wrap" data-testid="resend-editor">
        {source.request === undefined ? (
          <p className="empty">Loading the request…</p>
        ) : original === null ? (
          <p className="empty">This call’s request is not known (a pass-through call, or gone).</p>
        ) : (
          <Suspense fallback={<pre className="json editor-loading">{text}</pre>}>
            <JsonEditor
              value={text}
              problem={problem}
              label="Request JSON"
              autoFocus={false}
              onChange={(next, byUser) => {
                if (!byUser) return;
                setEdited(next);
                setSent(false);
              }}
              onSubmit={() => void send()}
            />
          </Suspense>
        )}
      </div>
      <p className={`mock-error${message ? ' shown' : ''}`} role="alert">
        {message}
      </p>
      <div className="dialog-actions">
        <fieldset className="send-to">
          <legend>Send to</legend>
          <label>
            <input
              type="radio"
              name="resend-to"
              checked={to === 'upstream'}
              onChange={() => setTo('upstream')}
            />
            upstream
          </label>
          <label>
            <input type="radio" name="resend-to" checked={to === 'tape'} onChange={() => setTo('tape')} />
            tapes
          </label>
        </fieldset>
        <span className="spacer" />
        <span className="muted hint">
          <kbd>Ctrl</kbd>+<kbd>Enter</kbd> send · <kbd>Esc</kbd> cancel
        </span>
        <button type="button" onClick={onClose}>
          Cancel
        </button>
        <button type="button" className="primary" disabled={!ready} onClick={() => void send()}>
          {sending ? 'Sending…' : 'Send'}
        </button>
      </div>
    </dialog>
  );
}

/** The quick control showing the field a refusal names, or null when none does. */
function controlOf(path: (string | number)[] | undefined): ControlName | null {
  switch (path?.[0]) {
    case 'model':
      return 'model';
    case 'temperature':
      return 'temperature';
    case 'tools':
    case 'tool_choice':
      return 'tools';
    case 'messages':
    case 'input':
      return path.length > 1 ? null : 'message';
    default:
      return null;
  }
}

function syntaxProblem(text: string): MockProblem {
  const parsed = parseMock(text);
  return parsed.ok ? { message: 'The request must be a JSON object.' } : parsed.problem;
}
