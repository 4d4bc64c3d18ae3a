import { type Kysely, sql, type Transaction } from 'kysely';
import type { DB } from '../migrations/db-schema.ts';
import {
  type Budget,
  type BudgetHold,
  type BudgetState,
  periodStart,
  type ReserveResult,
} from './llm-budget-types.ts';

const sameInstant = (a: Date, b: Date) => a.getTime() === b.getTime();

/**
 * Spend per budget period: reservations before a call and settlements after, under row locks
 * (a hard limit is never passed by the sum of spend and open reservations), the sweep of
 * reservations whose process died, and each period's state. A period's row is created on
 * first use, seeded with the calls already recorded in it.
 */
export function createBudgetPeriods(db: Kysely<DB>) {
  /** Creates missing period rows, seeding spend from the calls already recorded in the period. */
  async function ensurePeriods(trx: Transaction<DB>, budgets: readonly Budget[], at: Date) {
    for (const budget of budgets) {
      const start = periodStart(budget.period, at);
      await sql`
        insert into llm_budget_period (budget_id, period_start, spent_nano)
        select ${budget.id}, ${start}, coalesce(sum(c.cost_nano), 0)
        from llm_calls c
        where c.project_id = ${budget.projectId}
          and c.created_at >= ${start}
          and (${budget.userId ?? null}::uuid is null or c.user_id = ${budget.userId ?? null}::uuid)
          and (${budget.gatewayKeyId ?? null}::text is null
            or c.entity_ids ->> 'gatewayKeyId' = ${budget.gatewayKeyId ?? null}::text)
        on conflict (budget_id, period_start) do nothing
      `.execute(trx);
    }
  }

  /** A budget's period row, locked for the transaction; undefined when it does not exist yet. */
  const lockedRow = (trx: Transaction<DB>, budgetId: string, start: Date) =>
    trx
      .selectFrom('llm_budget_period')
      .select(['spent_nano', 'reserved_nano'])
      .where('budget_id', '=', budgetId)
      .where('period_start', '=', start)
      .forUpdate()
      .executeTakeFirst();

  async function lockPeriods(trx: Transaction<DB>, budgets: readonly Budget[], at: Date) {
    // Sorted, so two transactions always lock in the same order (no deadlock).
    const sorted = [...budgets].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const states: BudgetState[] = [];
    for (const budget of sorted) {
      const start = periodStart(budget.period, at);
      let row = await lockedRow(trx, budget.id, start);
      if (!row) {
        await ensurePeriods(trx, [budget], at);
        row = await lockedRow(trx, budget.id, start);
        if (!row) throw new Error(`budget period ${budget.id} was not created`);
      }
      states.push({
        budget,
        periodStart: start,
        spentNano: Number(row.spent_nano),
        reservedNano: Number(row.reserved_nano),
      });
    }
    return states;
  }

  return {
    /**
     * Reserves `amountNano` against every budget, all or nothing, under row locks: a hard
     * limit is never passed by the sum of spend and open reservations, however many calls
     * reserve at once.
     */
    async reserve(options: {
      reservationId: string;
      budgets: readonly Budget[];
      amountNano: number;
      at: Date;
      expiresAt: Date;
    }): Promise<ReserveResult> {
      return db.transaction().execute(async (trx) => {
        const states = await lockPeriods(trx, options.budgets, options.at);
        for (const state of states) {
          const hard = state.budget.hardLimitNano;
          if (
            hard !== undefined &&
            state.spentNano + state.reservedNano + options.amountNano > hard
          ) {
            return { ok: false as const, exceeded: state };
          }
        }
        const softExceeded = states.filter((state) => {
          const soft = state.budget.softLimitNano;
          return (
            soft !== undefined && state.spentNano + state.reservedNano + options.amountNano > soft
          );
        });
        for (const state of states) {
          await trx
            .updateTable('llm_budget_period')
            .set({ reserved_nano: sql`reserved_nano + ${options.amountNano}` })
            .where('budget_id', '=', state.budget.id)
            .where('period_start', '=', state.periodStart)
            .execute();
        }
        if (states.length > 0) {
          await trx
            .insertInto('llm_budget_reservation')
            .values(
              states.map((state) => ({
                id: options.reservationId,
                budget_id: state.budget.id,
                period_start: state.periodStart,
                amount_nano: options.amountNano,
                expires_at: options.expiresAt,
              })),
            )
            .execute();
        }
        return {
          ok: true as const,
          holds: states.map((state) => ({
            budgetId: state.budget.id,
            periodStart: state.periodStart,
          })),
          softExceeded,
        };
      });
    },

    /**
     * Replaces a reservation by the real cost. Also counts the cost when the reservation has
     * already expired (swept), so spend is never lost.
     */
    async settle(
      reservationId: string,
      holds: readonly BudgetHold[],
      costNano: number,
    ): Promise<void> {
      if (holds.length === 0) return;
      await db.transaction().execute(async (trx) => {
        const released = await trx
          .deleteFrom('llm_budget_reservation')
          .where('id', '=', reservationId)
          .returning(['budget_id', 'period_start', 'amount_nano'])
          .execute();
        const sorted = [...holds].sort((a, b) => (a.budgetId < b.budgetId ? -1 : 1));
        for (const hold of sorted) {
          const reservation = released.find(
            (row) =>
              row.budget_id === hold.budgetId &&
              sameInstant(new Date(row.period_start), hold.periodStart),
          );
          await trx
            .updateTable('llm_budget_period')
            .set({
              reserved_nano: sql`reserved_nano - ${Number(reservation?.amount_nano ?? 0)}`,
              spent_nano: sql`spent_nano + ${costNano}`,
            })
            .where('budget_id', '=', hold.budgetId)
            .where('period_start', '=', hold.periodStart)
            .execute();
        }
      });
    },

    /** Releases reservations whose process died before settling them. */
    async releaseExpired(now: Date): Promise<number> {
      return db.transaction().execute(async (trx) => {
        const expired = await trx
          .deleteFrom('llm_budget_reservation')
          .where('expires_at', '<', now)
          .returning(['budget_id', 'period_start', 'amount_nano'])
          .execute();
        const sorted = [...expired].sort((a, b) => (a.budget_id < b.budget_id ? -1 : 1));
        for (const row of sorted) {
          await trx
            .updateTable('llm_budget_period')
            .set({ reserved_nano: sql`greatest(0, reserved_nano - ${Number(row.amount_nano)})` })
            .where('budget_id', '=', row.budget_id)
            .where('period_start', '=', row.period_start)
            .execute();
        }
        return expired.length;
      });
    },

    /** Marks the soft limit of a period as warned; true only for the first caller. */
    async markSoftWarned(budgetId: string, start: Date, at: Date): Promise<boolean> {
      const result = await db
        .updateTable('llm_budget_period')
        .set({ soft_warned_at: at })
        .where('budget_id', '=', budgetId)
        .where('period_start', '=', start)
        .where('soft_warned_at', 'is', null)
        .executeTakeFirst();
      return Number(result.numUpdatedRows) > 0;
    },

    /** Spend and open reservations of the current period of each budget. */
    async states(budgets: readonly Budget[], at: Date): Promise<BudgetState[]> {
      if (budgets.length === 0) return [];
      await db.transaction().execute((trx) => ensurePeriods(trx, budgets, at));
      const states: BudgetState[] = [];
      for (const budget of budgets) {
        const start = periodStart(budget.period, at);
        const row = await db
          .selectFrom('llm_budget_period')
          .select(['spent_nano', 'reserved_nano'])
          .where('budget_id', '=', budget.id)
          .where('period_start', '=', start)
          .executeTakeFirst();
        states.push({
          budget,
          periodStart: start,
          spentNano: Number(row?.spent_nano ?? 0),
          reservedNano: Number(row?.reserved_nano ?? 0),
        });
      }
      return states;
    },
  };
}
