import { type Kysely, sql } from 'kysely';

// A durable run's step keys compare byte by byte (issue 17): `runs.steps(id, { keyPrefix })`
// reads the keys that start with a prefix as a range of the primary key (`step_key >= prefix
// and step_key < the prefix's successor`), which is exact only in code-point order. Under the
// database's own collation (en_US and the like skip punctuation on a first pass) the range could
// miss keys, and `left(step_key, n) = prefix`, used before, read every step of the run — an
// extract step keeps one per document. Equality, the only other comparison on the column, is
// the same in either collation; the primary key index is rebuilt, the table is not rewritten.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table run_step alter column step_key type text collate "C"`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`alter table run_step alter column step_key type text collate "default"`.execute(db);
}
