import { useCallback, useEffect, useRef, useState } from 'react';
import {
  ACTIVE_RUN_STATUSES,
  generationApi,
  type Run,
  type RunProgressEvent,
} from '../api/generation-api.ts';
import { useAnnouncer } from '../ui/live-region.tsx';

export interface RunState extends RunProgressEvent {
  estimateCostNano?: number | null;
  pauseReason?: string | null;
  errorMessage?: string | null;
}

const fromRun = (run: Run): RunState => ({
  runId: run.id,
  columnId: run.columnId,
  status: run.status,
  total: run.progress.total,
  done: run.progress.done,
  errors: run.progress.errors,
  conflicts: run.progress.conflicts,
  costNano: run.progress.costNano,
  cellsPerSecond: run.progress.cellsPerSecond,
  etaSeconds: run.progress.etaSeconds,
  inFlight: run.progress.inFlight,
  estimateCostNano: run.estimate?.costNano ?? null,
  pauseReason: run.pauseReason,
  waiting: run.waiting ?? null,
  errorMessage: run.error?.message ?? null,
});

/** A column's run is named after its column; a run that generates rows is "New rows". */
export const runName = (
  run: { columnId?: string | null },
  columnName: (columnId: string) => string,
) => (run.columnId ? columnName(run.columnId) : 'New rows');

/** The runs without `runId` (the same map when it is not there). */
const without = (runs: Map<string, RunState>, runId: string) => {
  if (!runs.has(runId)) return runs;
  const next = new Map(runs);
  next.delete(runId);
  return next;
};

/**
 * How long a run that completed cleanly stays on screen; failed and stopped runs, and runs that
 * completed with errors, stay until dismissed.
 */
export const COMPLETED_LINGER_MS = 8_000;

/** A run that ended without needing attention: it hides itself after a while. */
const hidesItself = (run: RunState) =>
  run.status === 'completed' && run.errors === 0 && !run.errorMessage;

/**
 * The dataset's active generation runs: loaded once, then kept current by `run-progress`
 * events (passed to `onProgress`). Progress is announced politely per run at most every 5 s,
 * and once when a run ends. A run that completed without errors hides itself after
 * `COMPLETED_LINGER_MS`; the others stay until `dismiss`ed (client-side only: the run is kept).
 */
export function useRuns(
  projectId: string,
  datasetId: string,
  columnName: (columnId: string) => string,
) {
  const { announce } = useAnnouncer();
  const [runs, setRuns] = useState<Map<string, RunState>>(new Map());
  const lastAnnounced = useRef(new Map<string, number>());
  const nameRef = useRef(columnName);
  nameRef.current = columnName;

  /** Runs the user dismissed or that hid themselves: late events do not bring them back. */
  const gone = useRef(new Set<string>());

  const upsert = useCallback((state: RunState) => {
    if (gone.current.has(state.runId)) return;
    setRuns((previous) => {
      const next = new Map(previous);
      next.set(state.runId, { ...previous.get(state.runId), ...state });
      return next;
    });
  }, []);

  const dismiss = useCallback((runId: string) => {
    gone.current.add(runId);
    setRuns((previous) => without(previous, runId));
  }, []);

  // Completed runs (however they were learnt of: an event, an action's answer, a reload)
  // hide themselves once, COMPLETED_LINGER_MS after they were first seen completed.
  const timers = useRef(new Map<string, number>());
  useEffect(() => {
    for (const run of runs.values()) {
      if (!hidesItself(run) || timers.current.has(run.runId)) continue;
      timers.current.set(
        run.runId,
        window.setTimeout(
          () =>
            setRuns((previous) => {
              // Its final figures may have brought errors meanwhile: then it stays.
              const current = previous.get(run.runId);
              if (!current || !hidesItself(current)) return previous;
              gone.current.add(run.runId);
              return without(previous, run.runId);
            }),
          COMPLETED_LINGER_MS,
        ),
      );
    }
  }, [runs]);
  useEffect(() => {
    const pending = timers.current;
    return () => {
      for (const timer of pending.values()) window.clearTimeout(timer);
      pending.clear();
    };
  }, []);

  const refresh = useCallback(async () => {
    const { items } = await generationApi.runs(projectId, datasetId);
    setRuns(
      new Map(
        items
          .filter((run) => ACTIVE_RUN_STATUSES.includes(run.status))
          .map((run) => [run.id, fromRun(run)]),
      ),
    );
  }, [projectId, datasetId]);

  useEffect(() => {
    void refresh().catch(() => {});
  }, [refresh]);

  const onProgress = useCallback(
    (event: RunProgressEvent) => {
      upsert(event);
      const name = runName(event, nameRef.current);
      const finished = !ACTIVE_RUN_STATUSES.includes(event.status);
      const now = Date.now();
      if (finished) {
        announce(
          `${name}: run ${event.status}, ${event.done.toLocaleString()} of ${event.total.toLocaleString()} cells, ${event.errors} errors`,
        );
        // The final figures (cost, error message) come with the run itself.
        void generationApi.run(projectId, datasetId, event.runId).then(
          (run) => upsert(fromRun(run)),
          () => {},
        );
      } else if (now - (lastAnnounced.current.get(event.runId) ?? 0) > 5_000) {
        lastAnnounced.current.set(event.runId, now);
        announce(
          `${name}: ${(event.done + event.errors).toLocaleString()} of ${event.total.toLocaleString()} cells${event.errors ? `, ${event.errors} errors` : ''}`,
        );
      }
    },
    [upsert, announce, projectId, datasetId],
  );

  return {
    runs: [...runs.values()],
    onProgress,
    refresh,
    dismiss,
    upsert: (run: Run) => upsert(fromRun(run)),
  };
}
