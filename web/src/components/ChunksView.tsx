// Raw chunks with their timing, and the request and response headers.
import { memo } from 'react';
import type { ChunkJSON, FlowDetailJSON } from '../api/types.gen';

export const ChunksView = memo(function ChunksView({ chunks }: { chunks: ChunkJSON[] }) {
  return (
    <div className="chunks-view">
      <p className="muted">
        {chunks.length} chunk{chunks.length === 1 ? '' : 's'} · <b>t</b> ms since the request was sent ·{' '}
        <b>Δ</b> ms since the previous chunk
      </p>
      <ol className="chunks" data-testid="detail-chunks">
        {chunks.map((chunk, index) => (
          <li key={index} className="chunk" data-testid="chunk-row">
            <span className="mono muted">#{index + 1}</span>
            <span className="mono" title="ms since the request was sent">
              t {chunk.t}
            </span>
            <span className="mono muted" title="ms since the previous chunk">
              Δ {chunk.d}
            </span>
            <pre className="mono">{chunk.c.replace(/\n+$/, '')}</pre>
          </li>
        ))}
      </ol>
    </div>
  );
});

export function HeadersView({ detail }: { detail: FlowDetailJSON }) {
  return (
    <div className="headers-view" data-testid="detail-headers">
      <HeaderTable title="Request headers" headers={detail.request_headers} />
      <HeaderTable title="Response headers" headers={detail.response_headers} />
    </div>
  );
}

function HeaderTable({ title, headers }: { title: string; headers: Record<string, string> }) {
  const entries = Object.entries(headers);
  return (
    <section aria-label={title}>
      <h3>{title}</h3>
      {entries.length === 0 ? (
        <p className="muted">None.</p>
      ) : (
        <table className="header-table">
          <tbody>
            {entries.map(([name, value]) => (
              <tr key={name}>
                <th scope="row" className="mono">
                  {name}
                </th>
                <td className="mono">{value}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
