import type { Kysely, Selectable } from 'kysely';
import type { DB, LlmPriceOverrideTable } from '../migrations/db-schema.ts';
import { deleteMatching, selectMatching } from '../platform/db/store-helpers.ts';
import type { PriceRates } from './llm-prices.ts';

export interface PriceOverride {
  id: string;
  projectId: string;
  model: string;
  rates: PriceRates;
  /** Calls from this moment on use these rates (prices are dated, like the catalog's). */
  validFrom: Date;
  createdAt: Date;
}

function toOverride(row: Selectable<LlmPriceOverrideTable>): PriceOverride {
  return {
    id: row.id,
    projectId: row.project_id,
    model: row.model,
    rates: {
      inputNanoPerMtok: Number(row.input_nano_per_mtok),
      outputNanoPerMtok: Number(row.output_nano_per_mtok),
      cacheReadNanoPerMtok: row.cache_read_nano_per_mtok ?? undefined,
      cacheWriteNanoPerMtok: row.cache_write_nano_per_mtok ?? undefined,
    },
    validFrom: new Date(row.valid_from),
    createdAt: new Date(row.created_at),
  };
}

/** The override in force for `model` at `at`: the latest one that started by then. */
export function overrideAt(
  overrides: readonly PriceOverride[],
  model: string,
  at: Date,
): PriceOverride | undefined {
  let best: PriceOverride | undefined;
  for (const override of overrides) {
    if (override.model !== model || override.validFrom.getTime() > at.getTime()) continue;
    if (!best || override.validFrom.getTime() > best.validFrom.getTime()) best = override;
  }
  return best;
}

export function createPriceStore(db: Kysely<DB>) {
  return {
    async list(projectId: string): Promise<PriceOverride[]> {
      const rows = await selectMatching(db, 'llm_price_override', { project_id: projectId })
        .orderBy('model')
        .orderBy('valid_from')
        .execute();
      return rows.map(toOverride);
    },

    async insert(values: {
      id: string;
      projectId: string;
      model: string;
      rates: PriceRates;
      validFrom: Date;
      createdBy: string | undefined;
    }): Promise<PriceOverride> {
      const row = await db
        .insertInto('llm_price_override')
        .values({
          id: values.id,
          project_id: values.projectId,
          model: values.model,
          input_nano_per_mtok: values.rates.inputNanoPerMtok,
          output_nano_per_mtok: values.rates.outputNanoPerMtok,
          cache_read_nano_per_mtok: values.rates.cacheReadNanoPerMtok ?? null,
          cache_write_nano_per_mtok: values.rates.cacheWriteNanoPerMtok ?? null,
          valid_from: values.validFrom,
          created_by: values.createdBy ?? null,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      return toOverride(row);
    },

    async delete(projectId: string, id: string): Promise<boolean> {
      const deleted = await deleteMatching(db, 'llm_price_override', { project_id: projectId, id });
      return deleted > 0;
    },
  };
}

export type PriceStore = ReturnType<typeof createPriceStore>;
