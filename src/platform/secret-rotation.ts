import { type Kysely, sql } from 'kysely';
import type { EncryptedColumn } from '../migrations/encrypted-columns.ts';
import { type SecretBox, secretContext } from './crypto.ts';

export interface RotationReport {
  /** Values now sealed with the current key that were not before. */
  reencrypted: number;
  /** Values still sealed with an older key (0 after a complete rotation). */
  remaining: number;
}

/**
 * Re-seals every value of the listed columns that is not under the box's current key. Each
 * update is a compare-and-set on the old ciphertext, so a value changed meanwhile is left to
 * its writer (who sealed it with the current key anyway). Identifiers come from the constant
 * column list, never from user input.
 */
export async function reencryptColumns(
  // biome-ignore lint/suspicious/noExplicitAny: the column list is checked against DB where it is declared
  db: Kysely<any>,
  box: SecretBox,
  columns: readonly EncryptedColumn[],
  batchSize = 500,
): Promise<RotationReport> {
  let reencrypted = 0;
  const current = `v1:${box.currentKeyId}:%`;
  for (const { table, idColumn, column } of columns) {
    const t = sql.table(table);
    const id = sql.ref(idColumn);
    const value = sql.ref(column);
    let after = '';
    for (;;) {
      const { rows } = await sql<{ id: string; value: string }>`
        select ${id}::text as id, ${value} as value from ${t}
        where ${value} is not null and ${value} not like ${current} and ${id}::text > ${after}
        order by ${id}::text limit ${batchSize}`.execute(db);
      if (rows.length === 0) break;
      for (const row of rows) {
        const context = secretContext(table, column, row.id);
        const resealed = box.encrypt(box.decrypt(row.value, context), context);
        const result = await sql`
          update ${t} set ${value} = ${resealed}
          where ${id}::text = ${row.id} and ${value} = ${row.value}`.execute(db);
        if (Number(result.numAffectedRows ?? 0) > 0) reencrypted += 1;
      }
      after = rows.at(-1)!.id;
    }
  }
  let remaining = 0;
  for (const { table, column } of columns) {
    const value = sql.ref(column);
    const { rows } = await sql<{ count: number }>`
      select count(*)::int as count from ${sql.table(table)}
      where ${value} is not null and ${value} not like ${current}`.execute(db);
    remaining += rows[0]?.count ?? 0;
  }
  return { reencrypted, remaining };
}
