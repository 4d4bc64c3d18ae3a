import type { RunWaiting } from '../api/generation-api.ts';

const STATUS_LABELS: Record<string, string> = {
  'awaiting-confirmation': 'Waiting for your confirmation',
  queued: 'Queued',
  running: 'Generating',
  paused: 'Paused',
  completed: 'Done',
  failed: 'Failed',
  cancelled: 'Stopped',
};

/** "Done", or "Finished with N errors" when some calls failed (never a green "Done" then). */
export function runStatusLabel(run: { status: string; errors: number }): string {
  if (run.status === 'completed' && run.errors > 0)
    return `Finished with ${run.errors.toLocaleString('en-US')} ${run.errors === 1 ? 'error' : 'errors'}`;
  return STATUS_LABELS[run.status] ?? run.status;
}

/** "Rate limited by <provider>, retrying at 14:02:10" in the viewer's own time zone. */
export function waitingLabel(waiting: RunWaiting, locale?: string): string {
  const at = new Date(waiting.until);
  const time = Number.isNaN(at.getTime())
    ? waiting.until
    : at.toLocaleTimeString(locale, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
  return `Rate limited by ${waiting.providerName ?? 'the provider'}, retrying at ${time}`;
}
