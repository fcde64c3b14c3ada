// Diffs (GET /api/diff) of two references, read again while a side that is a flow changes on the
// WebSocket (a resend streaming in); and the resends of a flow or tape.
import { useEffect, useMemo, useState } from 'react';
import { api } from '../api/http';
import type { DiffJSON, FlowJSON } from '../api/types.gen';
import { tapeKeyOf } from '../lib/compare';
import { live, useLive } from './live';
import { Resource, useResource } from './resource';

export interface DiffState {
  diff: DiffJSON | null;
  error: string | null;
  /** The server's error code (`no_nearest_tape`, say). */
  code: string | null;
}

const EMPTY: DiffState = { diff: null, error: null, code: null };

/** The diff of `a` and `b` (nothing while either is null), current with their flows. */
export function useDiff(a: string | null, b: string | null): DiffState {
  const [state, setState] = useState<{ key: string; value: DiffState } | null>(null);
  const key = a !== null && b !== null ? `${a}\n${b}` : null;

  useEffect(() => {
    if (a === null || b === null) return;
    const key = `${a}\n${b}`;
    let current = true;
    let inflight = false;
    let again = false;
    // The flows as they were when the diff was last asked for.
    let seen: (FlowJSON | undefined)[] = [];
    const flowsOf = () => [a, b].map((ref) => (tapeKeyOf(ref) === null ? live.flow(ref) : undefined));

    function fetch(): void {
      inflight = true;
      seen = flowsOf();
      api
        .diff(a!, b!)
        .then(
          (diff) => current && setState({ key, value: { diff, error: null, code: null } }),
          (error: Error & { code?: string | null }) =>
            current &&
            setState((before) => ({
              key,
              value: {
                diff: before?.key === key ? before.value.diff : null,
                error: error.message,
                code: error.code ?? null,
              },
            })),
        )
        .finally(() => {
          inflight = false;
          if (again && current) {
            again = false;
            fetch();
          }
        });
    }

    fetch();
    // A flow message gives its flow a new object: a side that changed is read again.
    const stop = live.state.subscribe(() => {
      const flows = flowsOf();
      if (flows.every((flow, index) => flow === seen[index])) return;
      if (inflight) again = true;
      else fetch();
    });
    return () => {
      current = false;
      stop();
    };
  }, [a, b]);

  return key !== null && state?.key === key ? state.value : EMPTY;
}

const resends = new Resource<FlowJSON[]>((parent) => api.resends(parent));

/**
 * The resends of `parent` (a flow id or `tape:<key>`), oldest first: those the history has, and
 * those of the live window still running.
 */
export function useResends(parent: string | null): FlowJSON[] {
  const stored = useResource(resends, parent, true).value;
  const { flows } = useLive();
  return useMemo(() => {
    if (parent === null) return [];
    const byId = new Map<string, FlowJSON>();
    for (const flow of stored ?? []) byId.set(flow.id, flow);
    for (const flow of flows) if (flow.parent === parent) byId.set(flow.id, flow);
    return [...byId.values()].sort((x, y) => x.started_at.localeCompare(y.started_at));
  }, [parent, stored, flows]);
}
