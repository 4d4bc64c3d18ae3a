/**
 * SQL identifiers for DuckDB objects are built only from our own ids (UUIDv7), never from
 * user text: a dataset called `x"; drop table …` is just data in PostgreSQL.
 */
const IDENTIFIER = /^[a-z][a-z0-9_]{0,62}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export type IdentifierPrefix = 'ds' | 'col' | 'tmp' | 'mon' | 'test';

/** `identifierFor('ds', '0190…')` → `ds_0190…` (hex only). Throws on anything but a UUID. */
export function identifierFor(prefix: IdentifierPrefix, id: string): string {
  if (!UUID.test(id)) throw new TypeError('identifierFor expects a lowercase UUID');
  return `${prefix}_${id.replaceAll('-', '')}`;
}

/** Double-quotes an identifier we built; refuses anything outside [a-z0-9_]. */
export function quoteIdentifier(name: string): string {
  if (!IDENTIFIER.test(name))
    throw new TypeError(`refusing to quote identifier ${JSON.stringify(name)}`);
  return `"${name}"`;
}
