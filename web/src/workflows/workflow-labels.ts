import type { RunStatus, StepStatus } from './workflow-api.ts';

export const RUN_STATUS_LABELS: Record<RunStatus, string> = {
  queued: 'Queued',
  running: 'Running',
  paused: 'Paused',
  'waiting-approval': 'Waiting for approval',
  completed: 'Completed',
  failed: 'Failed',
  cancelled: 'Cancelled',
};

export const STEP_STATUS_LABELS: Record<StepStatus | 'pending', string> = {
  pending: 'Not started',
  running: 'Running',
  retrying: 'Retrying',
  waiting: 'Waiting',
  completed: 'Completed',
  reused: 'Reused',
  skipped: 'Skipped',
  failed: 'Failed',
};

/** A step's duration: ms under a second, else seconds or minutes. */
export function formatMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '—';
  if (ms < 1_000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1_000).toFixed(1)} s`;
  const minutes = Math.floor(ms / 60_000);
  return `${minutes} min ${Math.round((ms % 60_000) / 1_000)} s`;
}
