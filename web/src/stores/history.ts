// What the dashboard reads from the history: the runs, a run's threads and calls, a thread.
import { api, flowsUrl } from '../api/http';
import type { FlowJSON, RunJSON, ThreadDetailJSON, ThreadJSON } from '../api/types.gen';
import { Resource, useResource, type Loaded } from './resource';

/** The timeline of a past run shows at most its newest this many calls. */
export const TIMELINE_CALLS = 2000;

const runs = new Resource<RunJSON[]>(() => api.runs());
// Keyed by run id; '' is the live run.
const threads = new Resource<ThreadJSON[]>((run) => api.threads(run || null));
const thread = new Resource<ThreadDetailJSON>((id) => api.thread(id));
const runCalls = new Resource<FlowJSON[]>(
  async (run) => (await api.flowPage(flowsUrl({ run, limit: TIMELINE_CALLS }))).items,
);

/** Every run, newest first; current with the live run's calls. */
export function useRuns(): Loaded<RunJSON[]> {
  return useResource(runs, 'all', true);
}

/** The threads of `run` (null: the live run), newest first. */
export function useThreads(run: string | null, shown: boolean): Loaded<ThreadJSON[]> {
  return useResource(threads, shown ? (run ?? '') : null, run === null);
}

export function useThread(id: string | null, follow: boolean): Loaded<ThreadDetailJSON> {
  return useResource(thread, id, follow);
}

/** The calls of a past run, newest first (a live run's come from the live window). */
export function useRunCalls(run: string | null): Loaded<FlowJSON[]> {
  return useResource(runCalls, run, false);
}
