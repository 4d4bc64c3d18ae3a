import { ACTIVE_RUN_STATUSES, generationApi, type Run } from '../api/generation-api.ts';
import { formatDuration, formatNanoUsd } from '../ui/format.ts';
import { useNotices } from '../ui/notices.tsx';
import { runStatusLabel, waitingLabel } from './run-labels.ts';
import { type RunState, runName } from './use-runs.ts';

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
 * confirm while active; while rate limited, why and until when; once finished with errors,
 * "Retry errors"; dismiss once finished.
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
  const retryErrors = (run: RunState) => {
    if (!run.columnId) return;
    onDismiss(run.runId);
    void generationApi
      .startRun(projectId, datasetId, run.columnId, { mode: 'errors' })
      .then(onChanged, notices.error);
  };
  return (
    <section className="run-strip" aria-label="Generation runs">
      {runs.map((run) => {
        const processed = run.done + run.errors + (run.conflicts ?? 0);
        const active = ACTIVE_RUN_STATUSES.includes(run.status);
        const name = runName(run, columnName);
        const withErrors = run.status === 'completed' && run.errors > 0;
        const waiting = run.status === 'running' ? run.waiting : null;
        return (
          <div
            key={run.runId}
            className={`run run-${withErrors ? 'completed-errors' : run.status}${waiting ? ' run-waiting' : ''}`}
            data-testid="run"
          >
            <strong className="run-name">{name}</strong>
            <span className="run-status">{runStatusLabel(run)}</span>
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
              {run.errorMessage && !withErrors ? ` · ${run.errorMessage}` : ''}
            </span>
            {waiting && (
              <span className="run-waiting-reason" role="status" title={waiting.message}>
                {waitingLabel(waiting)}
              </span>
            )}
            {withErrors && run.errorMessage && (
              <span className="run-error-reason" title={run.errorMessage}>
                {run.errorMessage.replace(/^Finished with [\d,]+ errors?; last: /, 'Last error: ')}
              </span>
            )}
            {!readOnly && withErrors && run.columnId && (
              <button type="button" onClick={() => retryErrors(run)}>
                Retry errors
              </button>
            )}
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
