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
  errorMessage: run.error?.message ?? null,
});

/** How long a finished run stays on screen. */
const LINGER_MS = 8_000;

/**
 * The dataset's active generation runs: loaded once, then kept current by `run-progress`
 * events (passed to `onProgress`). Progress is announced politely per run at most every 5 s,
 * and once when a run ends.
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

  const upsert = useCallback((state: RunState) => {
    setRuns((previous) => {
      const next = new Map(previous);
      next.set(state.runId, { ...previous.get(state.runId), ...state });
      return next;
    });
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
      const name = nameRef.current(event.columnId);
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
        window.setTimeout(() => {
          setRuns((previous) => {
            const current = previous.get(event.runId);
            if (!current || ACTIVE_RUN_STATUSES.includes(current.status)) return previous;
            const next = new Map(previous);
            next.delete(event.runId);
            return next;
          });
        }, LINGER_MS);
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
    upsert: (run: Run) => upsert(fromRun(run)),
  };
}
