import type { Kysely } from 'kysely';
import type { DB } from '../migrations/db-schema.ts';
import { listBudgets } from './llm-budget-definitions.ts';
import type { Budget, BudgetPeriod } from './llm-budget-types.ts';

/** A gateway key's budgets, listed and replaced with the key (src/gateway). */
export function createGatewayKeyBudgets(db: Kysely<DB>) {
  return {
    /** The budgets of a gateway key. */
    async listForGatewayKey(projectId: string, gatewayKeyId: string): Promise<Budget[]> {
      return listBudgets(db, projectId, gatewayKeyId);
    },

    /** Replaces a gateway key's budgets (none: `limits` empty). */
    async replaceForGatewayKey(
      projectId: string,
      gatewayKeyId: string,
      limits: readonly { id: string; period: BudgetPeriod; hardLimitNano: number }[],
      createdBy: string | undefined,
    ): Promise<void> {
      await db.transaction().execute(async (trx) => {
        const existing = await trx
          .selectFrom('llm_budget')
          .select(['id', 'period'])
          .where('project_id', '=', projectId)
          .where('gateway_key_id', '=', gatewayKeyId)
          .execute();
        // A period kept keeps its row (and its spend); the others go.
        for (const row of existing) {
          const kept = limits.find((limit) => limit.period === row.period);
          if (!kept) await trx.deleteFrom('llm_budget').where('id', '=', row.id).execute();
          else
            await trx
              .updateTable('llm_budget')
              .set({ hard_limit_nano: kept.hardLimitNano, updated_at: new Date() })
              .where('id', '=', row.id)
              .execute();
        }
        const fresh = limits.filter(
          (limit) => !existing.some((row) => row.period === limit.period),
        );
        if (fresh.length > 0)
          await trx
            .insertInto('llm_budget')
            .values(
              fresh.map((limit) => ({
                id: limit.id,
                project_id: projectId,
                user_id: null,
                gateway_key_id: gatewayKeyId,
                period: limit.period,
                hard_limit_nano: limit.hardLimitNano,
                soft_limit_nano: null,
                created_by: createdBy ?? null,
              })),
            )
            .execute();
      });
    },
  };
}
