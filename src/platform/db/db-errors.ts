/**
 * Recognises PostgreSQL errors by SQLSTATE and constraint name (both the pg driver and
 * PGlite expose `code` and `constraint`), so a store can turn a race the database caught
 * into CONFLICT instead of a 500.
 */
interface DatabaseErrorFields {
  code?: unknown;
  constraint?: unknown;
}

export const SQLSTATE = {
  uniqueViolation: '23505',
  foreignKeyViolation: '23503',
  checkViolation: '23514',
} as const;

export function isDatabaseError(
  error: unknown,
  code: (typeof SQLSTATE)[keyof typeof SQLSTATE],
  constraint?: string,
): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const fields = error as DatabaseErrorFields;
  if (fields.code !== code) return false;
  return constraint === undefined || fields.constraint === constraint;
}

/** A unique constraint refused the write (the named one, when given): a CONFLICT, not a 500. */
export function isUniqueViolation(error: unknown, constraint?: string): boolean {
  return isDatabaseError(error, SQLSTATE.uniqueViolation, constraint);
}
