/** Display helpers: every one returns plain text for React text nodes. */

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const integer = new Intl.NumberFormat();

export const formatDateTime = (iso: string | null | undefined) =>
  iso ? dateTime.format(new Date(iso)) : '—';
export const formatInteger = (value: number | null | undefined) =>
  value === null || value === undefined ? '—' : integer.format(value);

/** Nano-USD (integer, 1e-9 USD) as dollars with enough digits for tiny sums. */
export function formatNanoUsd(nano: number | null | undefined): string {
  if (nano === null || nano === undefined) return '—';
  const usd = nano / 1e9;
  const digits = usd !== 0 && Math.abs(usd) < 0.01 ? 6 : 2;
  return `$${usd.toFixed(digits)}`;
}

/**
 * A cost whose parts may have no known price: "unknown" when none is priced (never "$0.00"),
 * "$1.20 + unknown" when some are, the plain cost when all are.
 */
export function formatSpend(costNano: number, unpricedAttempts: number): string {
  if (unpricedAttempts <= 0) return formatNanoUsd(costNano);
  return costNano === 0 ? 'unknown' : `${formatNanoUsd(costNano)} + unknown`;
}

export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined) return '—';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '—';
  if (seconds < 60) return `${Math.round(seconds)} s`;
  const minutes = Math.floor(seconds / 60);
  return minutes < 60
    ? `${minutes} min ${Math.round(seconds % 60)} s`
    : `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}
