import type { Kysely } from 'kysely';
import type { DB } from '../migrations/db-schema.ts';
import { deleteMatching, selectMatching } from '../platform/db/store-helpers.ts';
import { type Budget, type BudgetPeriod, toBudget } from './llm-budget-types.ts';

/**
 * Budget definitions: which bind a call, and the project's and its members' budgets as the
 * budget routes manage them (a gateway key's budgets change with the key:
 * llm-budget-gateway-keys.ts).
 */
export function createBudgetDefinitions(db: Kysely<DB>) {
  return {
    /**
     * The budgets that bind a call by `userId` in the project: the project's and the user's,
     * and the gateway key's when the call is made with one.
     */
    async applicable(
      projectId: string,
      userId: string | undefined,
      gatewayKeyId?: string | undefined,
    ): Promise<Budget[]> {
      const rows = await db
        .selectFrom('llm_budget')
        .selectAll()
        .where('project_id', '=', projectId)
        .where((eb) => {
          const members = eb.and([
            eb('gateway_key_id', 'is', null),
            userId === undefined
              ? eb('user_id', 'is', null)
              : eb.or([eb('user_id', 'is', null), eb('user_id', '=', userId)]),
          ]);
          return gatewayKeyId === undefined
            ? members
            : eb.or([members, eb('gateway_key_id', '=', gatewayKeyId)]);
        })
        .execute();
      return rows.map(toBudget);
    },

    /** The project's and its members' budgets (gateway keys' budgets are listed with the keys). */
    async list(projectId: string): Promise<Budget[]> {
      return listBudgets(db, projectId, null);
    },

    async find(projectId: string, budgetId: string): Promise<Budget | undefined> {
      const row = await selectMatching(db, 'llm_budget', {
        project_id: projectId,
        id: budgetId,
        gateway_key_id: null,
      }).executeTakeFirst();
      return row ? toBudget(row) : undefined;
    },

    async insert(values: {
      id: string;
      projectId: string;
      userId: string | undefined;
      period: BudgetPeriod;
      hardLimitNano: number | undefined;
      softLimitNano: number | undefined;
      createdBy: string | undefined;
      gatewayKeyId?: string | undefined;
    }): Promise<Budget> {
      const row = await db
        .insertInto('llm_budget')
        .values({
          id: values.id,
          project_id: values.projectId,
          user_id: values.userId ?? null,
          gateway_key_id: values.gatewayKeyId ?? null,
          period: values.period,
          hard_limit_nano: values.hardLimitNano ?? null,
          soft_limit_nano: values.softLimitNano ?? null,
          created_by: values.createdBy ?? null,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      return toBudget(row);
    },

    async update(
      projectId: string,
      budgetId: string,
      values: { hardLimitNano?: number | null; softLimitNano?: number | null },
    ): Promise<Budget | undefined> {
      const row = await db
        .updateTable('llm_budget')
        .set({
          ...(values.hardLimitNano === undefined ? {} : { hard_limit_nano: values.hardLimitNano }),
          ...(values.softLimitNano === undefined ? {} : { soft_limit_nano: values.softLimitNano }),
          updated_at: new Date(),
        })
        .where('project_id', '=', projectId)
        .where('id', '=', budgetId)
        .where('gateway_key_id', 'is', null)
        .returningAll()
        .executeTakeFirst();
      return row ? toBudget(row) : undefined;
    },

    async delete(projectId: string, budgetId: string): Promise<boolean> {
      const deleted = await deleteMatching(db, 'llm_budget', {
        project_id: projectId,
        id: budgetId,
        // A gateway key's budgets change with the key (src/gateway), not here.
        gateway_key_id: null,
      });
      return deleted > 0;
    },
  };
}

/**
 * A project's budgets, oldest first: its own and its members' (`gatewayKeyId` null), or one
 * gateway key's. The two sets are managed apart (the budget routes; the key's routes).
 */
export async function listBudgets(
  db: Kysely<DB>,
  projectId: string,
  gatewayKeyId: string | null,
): Promise<Budget[]> {
  const rows = await selectMatching(db, 'llm_budget', {
    project_id: projectId,
    gateway_key_id: gatewayKeyId,
  })
    .orderBy('created_at')
    .execute();
  return rows.map(toBudget);
}
