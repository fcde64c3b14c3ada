// The parts of the compare view, each a row of three columns (what, A, B): the sides' heads,
// the request's changes by JSON path, the answers with the words marked, the tool calls'
// differing arguments, the figures with their differences.
import { useId, type ReactNode } from 'react';
import type { ChangeJSON, DiffJSON, DiffSideJSON, FloatPairJSON, ToolCallDiffJSON } from '../api/types.gen';
import { difference, figure, shortJson, type Figure } from '../lib/compare';
import { clockTime } from '../lib/format';
import { SourceBadge, StatusText } from './Badges';
import { Words } from './Words';

export function Row({ label, a, b }: { label?: ReactNode; a: ReactNode; b: ReactNode }) {
  return (
    <div className="compare-row">
      <div className="row-label">{label}</div>
      <div className="side-a">{a}</div>
      <div className="side-b">{b}</div>
    </div>
  );
}

export function SideHead({
  side,
  info,
  running,
  onOpen,
}: {
  side: 'A' | 'B';
  info: DiffSideJSON;
  running: boolean;
  onOpen: (ref: string) => void;
}) {
  return (
    <div className="compare-side-head" role="group" aria-label={`Side ${side}`}>
      <span className="side-letter" aria-hidden="true">
        {side}
      </span>
      <button
        type="button"
        className="link mono ellipsis"
        title={`Open ${info.ref}`}
        onClick={() => onOpen(info.ref)}
      >
        {info.label}
      </button>
      {info.model && <span className="ellipsis">{info.model}</span>}
      <SourceBadge source={info.source} />
      {info.origin && info.origin !== 'recorded' && (
        <span className={`badge origin-${info.origin}`}>{info.origin}</span>
      )}
      <StatusText status={info.status} />
      {info.time && <span className="muted mono">{clockTime(info.time).slice(0, 8)}</span>}
      {running && <span className="state state-streaming">running…</span>}
    </div>
  );
}

/** A changed value: words marked when both sides are text, else each side in one line of JSON. */
function Change({ change }: { change: ChangeJSON }) {
  return (
    <li className={`compare-row change change-${change.op}`}>
      <div className="row-label">
        <code className="change-path">
          <Path path={change.path} />
        </code>
        {change.op !== 'changed' && <span className="muted change-op"> {change.op}</span>}
      </div>
      <div className="side-a change-value">
        {change.words ? (
          <Words words={change.words} side="a" />
        ) : change.op === 'added' ? (
          <span className="muted">—</span>
        ) : (
          <del className="word-removed">{shortJson(change.a)}</del>
        )}
      </div>
      <div className="side-b change-value">
        {change.words ? (
          <Words words={change.words} side="b" />
        ) : change.op === 'removed' ? (
          <span className="muted">—</span>
        ) : (
          <ins className="word-added">{shortJson(change.b)}</ins>
        )}
      </div>
    </li>
  );
}

/** A JSON path that may wrap before each step: `$.messages[2]` / `.content`. */
function Path({ path }: { path: string }) {
  return (
    <>
      {path.split(/(?=[.[])/).map((step, index) => (
        <span key={index}>
          {index > 0 && <wbr />}
          {step}
        </span>
      ))}
    </>
  );
}

export function RequestChanges({
  request,
  sides,
}: {
  request: DiffJSON['request'];
  /** Names of the two columns, when no side heads are above them. */
  sides?: [string, string];
}) {
  const id = useId();
  return (
    <section className="compare-section" aria-labelledby={id}>
      <h3 id={id}>Request</h3>
      {sides && !request.same && <Row label="field" a={sides[0]} b={sides[1]} />}
      {request.same ? (
        <p className="muted">The requests are the same.</p>
      ) : (
        <ul className="changes" aria-label="Request changes">
          {request.changes.map((change) => (
            <Change key={change.path} change={change} />
          ))}
        </ul>
      )}
    </section>
  );
}

export function AnswerColumns({ diff, streaming }: { diff: DiffJSON; streaming: string | null }) {
  const { answer } = diff;
  const id = useId();
  const noText = <span className="muted">No text</span>;
  const words = answer.text.words.length > 0;
  return (
    <section className="compare-section" aria-labelledby={id}>
      <h3 id={id}>Answer {answer.same && <span className="muted same-note">the same</span>}</h3>
      <Row
        label="text"
        a={
          <div className="answer-text compare-text" role="group" aria-label="Answer A">
            {words ? <Words words={answer.text.words} side="a" /> : noText}
          </div>
        }
        b={
          <div className="answer-text compare-text" role="group" aria-label="Answer B">
            {streaming !== null ? (
              streaming || <span className="muted">Waiting for the answer…</span>
            ) : words ? (
              <Words words={answer.text.words} side="b" />
            ) : (
              noText
            )}
          </div>
        }
      />
      {answer.tool_calls.length > 0 && (
        <ul className="changes tool-diffs" aria-label="Tool call changes">
          {answer.tool_calls.map((call) => (
            <ToolCall key={call.index} call={call} />
          ))}
        </ul>
      )}
    </section>
  );
}

function ToolCall({ call }: { call: ToolCallDiffJSON }) {
  const paths = call.a && call.b ? call.changes.map((change) => change.path) : [];
  return (
    <li className={`tool-diff${call.same ? ' same' : ''}`}>
      <div className="compare-row">
        <div className="row-label">tool call {call.index + 1}</div>
        <div className="side-a">
          <ToolName call={call} side="a" />
        </div>
        <div className="side-b">
          <ToolName call={call} side="b" />
          <span className="muted tool-verdict">
            {call.same
              ? ' the same call'
              : paths.length > 0
                ? ` arguments differ at ${paths.join(', ')}`
                : call.name_changed
                  ? ' another tool'
                  : call.a
                    ? ' only A makes this call'
                    : ' only B makes this call'}
          </span>
        </div>
      </div>
      {paths.length > 0 && (
        <ul className="changes" aria-label={`Arguments of ${call.b!.name}`}>
          {call.changes.map((change) => (
            <Change key={change.path} change={change} />
          ))}
        </ul>
      )}
    </li>
  );
}

function ToolName({ call, side }: { call: ToolCallDiffJSON; side: 'a' | 'b' }) {
  const own = call[side];
  if (!own) return <span className="muted">no call</span>;
  const name = <span className="tool-name">{own.name}</span>;
  if (!call.name_changed && call[side === 'a' ? 'b' : 'a']) return name;
  return side === 'a' ? <del className="word-removed">{name}</del> : <ins className="word-added">{name}</ins>;
}

const ROWS: [string, (diff: DiffJSON) => FloatPairJSON, Figure][] = [
  ['input tokens', (diff) => diff.usage.input_tokens, 'tokens'],
  ['output tokens', (diff) => diff.usage.output_tokens, 'tokens'],
  ['total tokens', (diff) => diff.usage.total_tokens, 'tokens'],
  ['cost', (diff) => diff.cost, 'usd'],
  ['duration', (diff) => diff.latency.duration_ms, 'ms'],
  ['first byte', (diff) => diff.latency.first_byte_ms, 'ms'],
];

export function Figures({ diff }: { diff: DiffJSON }) {
  const { finish_reason: finish, status } = diff.answer;
  const id = useId();
  return (
    <section className="compare-section" aria-labelledby={id}>
      <h3 id={id}>Figures</h3>
      <table className="compare-figures" aria-labelledby={id}>
        <colgroup>
          <col className="label-col" />
          <col />
          <col />
        </colgroup>
        <thead className="sr-only">
          <tr>
            <th scope="col">figure</th>
            <th scope="col">A</th>
            <th scope="col">B (and B − A)</th>
          </tr>
        </thead>
        <tbody>
          <tr className={finish.same ? undefined : 'differs'}>
            <th scope="row">finish reason</th>
            <td>{finish.a ?? '—'}</td>
            <td>{finish.b ?? '—'}</td>
          </tr>
          <tr className={status.same ? undefined : 'differs'}>
            <th scope="row">status</th>
            <td>{status.a ?? '—'}</td>
            <td>{status.b ?? '—'}</td>
          </tr>
          {ROWS.map(([name, pick, kind]) => {
            const pair = pick(diff);
            const delta = difference(pair, kind);
            return (
              <tr key={name} className={pair.same ? undefined : 'differs'}>
                <th scope="row">{name}</th>
                <td className="mono">{figure(pair.a, kind)}</td>
                <td className="mono">
                  {figure(pair.b, kind)}
                  {delta && <span className="delta"> {delta}</span>}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </section>
  );
}
