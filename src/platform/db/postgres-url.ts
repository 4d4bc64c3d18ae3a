import { accessSync, constants } from 'node:fs';

/**
 * TLS settings of a PostgreSQL URL, checked before anything connects. Every connection we
 * open (the pool, the job queue, the event listener) hands the URL to node-postgres, which
 * reads `sslmode`, `sslrootcert`, `sslcert` and `sslkey` from it. The URL we hand on always
 * says `verify-full` when it asks for TLS, so the certificate chain and the host name are
 * checked on every connection — including after node-postgres 9 gives `require` and
 * `verify-ca` their weaker libpq meaning (its own deprecation warning announces this).
 *
 * Refused: modes that turn verification off or fall back to plain text (`no-verify`, `allow`,
 * `prefer`) and `uselibpqcompat=true` (which makes `require` skip verification).
 */
export class PostgresUrlError extends Error {
  override name = 'PostgresUrlError';
}

const VERIFYING_MODES = new Set(['require', 'verify-ca', 'verify-full']);
const REFUSED_MODES: Record<string, string> = {
  'no-verify': 'turns certificate verification off',
  allow: 'may connect without TLS',
  prefer: 'may connect without TLS',
};

function checkReadable(parameter: string, file: string): void {
  try {
    accessSync(file, constants.R_OK);
  } catch {
    throw new PostgresUrlError(`${parameter} file ${file} cannot be read`);
  }
}

/** The URL to connect with; throws PostgresUrlError (never echoing the URL) when it is unsafe. */
export function verifiedPostgresUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new PostgresUrlError('is not a valid URL');
  }
  const parameters = parsed.searchParams;
  const mode = parameters.get('sslmode');
  if (parameters.get('uselibpqcompat') === 'true') {
    throw new PostgresUrlError(
      'uselibpqcompat=true is refused: with it sslmode=require skips certificate verification',
    );
  }
  if (mode !== null && mode in REFUSED_MODES) {
    throw new PostgresUrlError(
      `sslmode=${mode} is refused: it ${REFUSED_MODES[mode]}; use sslmode=verify-full (with sslrootcert=<CA file> for a private CA)`,
    );
  }
  if (mode !== null && mode !== 'disable' && !VERIFYING_MODES.has(mode)) {
    throw new PostgresUrlError(
      `sslmode=${mode} is not known; use disable, require, verify-ca or verify-full`,
    );
  }
  for (const parameter of ['sslrootcert', 'sslcert', 'sslkey']) {
    const file = parameters.get(parameter);
    if (file === null) continue;
    if (mode === 'disable') {
      throw new PostgresUrlError(`${parameter} is set but sslmode=disable turns TLS off`);
    }
    checkReadable(parameter, file);
  }
  const wantsTls =
    (mode !== null && mode !== 'disable') ||
    ['sslrootcert', 'sslcert', 'sslkey'].some((parameter) => parameters.has(parameter));
  if (!wantsTls || mode === 'verify-full') return url;
  parameters.set('sslmode', 'verify-full');
  return parsed.toString();
}
