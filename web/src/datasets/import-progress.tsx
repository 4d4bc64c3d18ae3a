import type { ImportProgress } from '../api/sheet-api.ts';
import { formatBytes, formatDuration } from '../ui/format.ts';

export interface ProgressView {
  phase: 'upload' | ImportProgress['phase'];
  /** 0–100, or undefined when unknown (indeterminate bar). */
  percentage: number | undefined;
  bytes: number;
  totalBytes: number | undefined;
  rows: number | null;
  rowsPerSecond: number | null;
  elapsedMs: number;
}

const PHASES: Record<ProgressView['phase'], string> = {
  upload: 'Uploading',
  download: 'Downloading',
  prepare: 'Preparing',
  read: 'Reading rows',
  finish: 'Finishing',
};

/** A real progress bar: bytes, rows, rows per second, time — from the import's own events. */
export function ImportProgressBar({ progress }: { progress: ProgressView }) {
  const remaining =
    progress.percentage && progress.percentage > 0 && progress.percentage < 100
      ? ((progress.elapsedMs / progress.percentage) * (100 - progress.percentage)) / 1000
      : undefined;
  return (
    <div className="import-progress" data-testid="import-progress">
      <div className="row">
        <strong>{PHASES[progress.phase]}</strong>
        <span className="muted">
          {progress.percentage === undefined ? '' : `${Math.round(progress.percentage)}%`}
        </span>
      </div>
      <progress
        className="progress"
        max={100}
        {...(progress.percentage === undefined ? {} : { value: progress.percentage })}
        aria-label={`${PHASES[progress.phase]} progress`}
      />
      <p className="muted">
        {formatBytes(progress.bytes)}
        {progress.totalBytes ? ` of ${formatBytes(progress.totalBytes)}` : ''}
        {progress.rows !== null ? ` · ${progress.rows.toLocaleString()} rows` : ''}
        {progress.rowsPerSecond ? ` · ${progress.rowsPerSecond.toLocaleString()} rows/s` : ''}
        {` · ${formatDuration(progress.elapsedMs / 1000)}`}
        {remaining !== undefined ? ` · about ${formatDuration(remaining)} left` : ''}
      </p>
    </div>
  );
}
