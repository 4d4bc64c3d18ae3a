/** A stored time (a `Date` from Kysely, or a string read back from JSON or DuckDB) as ISO 8601. */
export function isoTime(value: Date | string): string {
  return new Date(value).toISOString();
}

/**
 * A stored time as presenters send it: an ISO 8601 string, or `null` when there is none. It
 * takes a `Date` (Kysely) or a string (a time read back from JSON or DuckDB) alike.
 */
export function isoOrNull(value: unknown): string | null {
  return value === null || value === undefined ? null : isoTime(value as Date | string);
}
