/**
 * Makes a summary safe to keep forever: values under secret-sounding keys become
 * "[redacted]", long strings are cut, and depth and array length are bounded.
 */
const SECRET_KEY =
  /(password|passphrase|secret|token|apikey|authorization|cookie|sessionid|recoverycode|totp|privatekey|credential)/;
const EXACT_SECRET_KEYS = new Set(['key', 'code', 'codes']);
const MAX_STRING = 500;
const MAX_ARRAY = 50;
const MAX_DEPTH = 4;

export const REDACTED = '[redacted]';

function isSecretKey(key: string): boolean {
  const normalized = key.toLowerCase().replace(/[-_\s]/g, '');
  return EXACT_SECRET_KEYS.has(normalized) || SECRET_KEY.test(normalized);
}

function redactValue(value: unknown, depth: number): unknown {
  if (value === null || typeof value === 'boolean' || typeof value === 'number') return value;
  if (typeof value === 'string') {
    return value.length > MAX_STRING ? `${value.slice(0, MAX_STRING)}…` : value;
  }
  if (value instanceof Date) return value.toISOString();
  if (depth >= MAX_DEPTH) return '[…]';
  if (Array.isArray(value)) {
    return value.slice(0, MAX_ARRAY).map((item) => redactValue(item, depth + 1));
  }
  if (typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, inner] of Object.entries(value)) {
      if (inner === undefined) continue;
      out[key] = isSecretKey(key) ? REDACTED : redactValue(inner, depth + 1);
    }
    return out;
  }
  return undefined; // functions, symbols, bigints: not data
}

export function redactSummary(
  summary: Record<string, unknown> | undefined,
): Record<string, unknown> {
  if (!summary) return {};
  return redactValue(summary, 0) as Record<string, unknown>;
}
