/**
 * A stored time as presenters send it: an ISO 8601 string, or `null` when there is none. It
 * takes a `Date` (Kysely) or a string (a time read back from JSON or DuckDB) alike.
 */
export function isoOrNull(value: unknown): string | null {
  return value === null || value === undefined
    ? null
    : new Date(value as Date | string).toISOString();
}
