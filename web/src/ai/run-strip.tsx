import { ACTIVE_RUN_STATUSES, generationApi, type Run } from '../api/generation-api.ts';
import { formatDuration, formatNanoUsd } from '../ui/format.ts';
import { useNotices } from '../ui/notices.tsx';
import { type RunState, runName } from './use-runs.ts';

const STATUS_LABELS: Record<string, string> = {
  'awaiting-confirmation': 'Waiting for your confirmation',
  queued: 'Queued',
  running: 'Generating',
  paused: 'Paused',
  completed: 'Done',
  failed: 'Failed',
  cancelled: 'Stopped',
};

interface RunStripProps {
  projectId: string;
  datasetId: string;
  runs: readonly RunState[];
  columnName(columnId: string): string;
  readOnly: boolean;
  onChanged(run: Run): void;
  /** Hides a finished run from the strip (completed runs also hide themselves). */
  onDismiss(runId: string): void;
}

/**
 * One line per run: progress bar with count, errors, cost, rate and ETA; stop, pause, resume,
 * confirm while active; dismiss once finished.
 */
export function RunStrip({
  projectId,
  datasetId,
  runs,
  columnName,
  readOnly,
  onChanged,
  onDismiss,
}: RunStripProps) {
  const notices = useNotices();
  if (runs.length === 0) return null;
  const act = (runId: string, action: 'cancel' | 'pause' | 'resume' | 'confirm') =>
    void generationApi.action(projectId, datasetId, runId, action).then(onChanged, notices.error);
  return (
    <section className="run-strip" aria-label="Generation runs">
      {runs.map((run) => {
        const processed = run.done + run.errors + (run.conflicts ?? 0);
        const active = ACTIVE_RUN_STATUSES.includes(run.status);
        const name = runName(run, columnName);
        return (
          <div key={run.runId} className={`run run-${run.status}`} data-testid="run">
            <strong className="run-name">{name}</strong>
            <span className="run-status">{STATUS_LABELS[run.status] ?? run.status}</span>
            <progress
              max={Math.max(1, run.total)}
              value={processed}
              aria-label={`${name} progress`}
            />
            <span className="run-figures">
              {processed.toLocaleString()} / {run.total.toLocaleString()}
              {run.errors ? ` · ${run.errors.toLocaleString()} errors` : ''}
              {run.conflicts ? ` · ${run.conflicts.toLocaleString()} kept your edits` : ''}
              {run.costNano !== undefined ? ` · ${formatNanoUsd(run.costNano)}` : ''}
              {run.status === 'awaiting-confirmation' && run.estimateCostNano !== undefined
                ? ` · estimated ${formatNanoUsd(run.estimateCostNano)}`
                : ''}
              {run.status === 'running' && run.cellsPerSecond
                ? ` · ${run.cellsPerSecond.toLocaleString()}/s`
                : ''}
              {run.status === 'running' && run.etaSeconds
                ? ` · ${formatDuration(run.etaSeconds)} left`
                : ''}
              {run.pauseReason ? ` · ${run.pauseReason}` : ''}
              {run.errorMessage ? ` · ${run.errorMessage}` : ''}
            </span>
            {!readOnly && active && (
              <span className="row">
                {run.status === 'awaiting-confirmation' && (
                  <button
                    type="button"
                    className="primary"
                    onClick={() => act(run.runId, 'confirm')}
                  >
                    Confirm and start
                  </button>
                )}
                {(run.status === 'running' || run.status === 'queued') && (
                  <button type="button" onClick={() => act(run.runId, 'pause')}>
                    Pause
                  </button>
                )}
                {run.status === 'paused' && (
                  <button type="button" onClick={() => act(run.runId, 'resume')}>
                    Resume
                  </button>
                )}
                <button type="button" className="danger" onClick={() => act(run.runId, 'cancel')}>
                  Stop
                </button>
              </span>
            )}
            {!active && (
              <button
                type="button"
                className="icon-button run-dismiss"
                aria-label={`Dismiss the ${name} run`}
                title="Dismiss"
                onClick={() => onDismiss(run.runId)}
              >
                ×
              </button>
            )}
          </div>
        );
      })}
    </section>
  );
}
