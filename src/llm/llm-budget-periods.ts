import { type Kysely, sql, type Transaction } from 'kysely';
import type { DB } from '../migrations/db-schema.ts';
import { stampFirst } from '../platform/db/store-helpers.ts';
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
  async function ensurePeriods(trx: Kysely<DB>, budgets: readonly Budget[], at: Date) {
    // Always in budget id order, so two callers creating the same rows wait, never deadlock.
    const sorted = [...budgets].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    for (const budget of sorted) {
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

  /** The period rows of `budgets` at `at` that exist, locked in budget id order. */
  const lockedRows = (trx: Transaction<DB>, budgets: readonly Budget[], at: Date) =>
    trx
      .selectFrom('llm_budget_period')
      .select(['budget_id', 'period_start', 'spent_nano', 'reserved_nano'])
      .where((eb) =>
        eb.or(
          budgets.map((budget) =>
            eb.and([
              eb('budget_id', '=', budget.id),
              eb('period_start', '=', periodStart(budget.period, at)),
            ]),
          ),
        ),
      )
      // One statement locks every row, always in the same order (no deadlock between calls).
      .orderBy('budget_id')
      .forUpdate()
      .execute();

  async function lockPeriods(trx: Transaction<DB>, budgets: readonly Budget[], at: Date) {
    if (budgets.length === 0) return [];
    const stateOf = (rows: Awaited<ReturnType<typeof lockedRows>>, budget: Budget) => {
      const start = periodStart(budget.period, at);
      const row = rows.find(
        (candidate) =>
          candidate.budget_id === budget.id && sameInstant(new Date(candidate.period_start), start),
      );
      return row
        ? {
            budget,
            periodStart: start,
            spentNano: Number(row.spent_nano),
            reservedNano: Number(row.reserved_nano),
          }
        : undefined;
    };
    const rows = await lockedRows(trx, budgets, at);
    const missing = budgets.filter((budget) => stateOf(rows, budget) === undefined);
    // A period's first call: the caller creates the rows outside this transaction and tries
    // again. Inserting them here, while holding locks on the rows that exist, deadlocks with a
    // caller that inserted one of them and now waits for those locks.
    if (missing.length > 0) return { missing };
    return budgets.map((budget): BudgetState => {
      const state = stateOf(rows, budget);
      if (!state) throw new Error(`budget period ${budget.id} was not created`);
      return state;
    });
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
      const attempt = () =>
        db.transaction().execute(async (trx) => {
          const locked = await lockPeriods(trx, options.budgets, options.at);
          if ('missing' in locked) return locked;
          return reserveLocked(trx, locked);
        });
      let result = await attempt();
      if ('missing' in result) {
        // Each insert commits on its own: no locks are held across them.
        await ensurePeriods(db, result.missing, options.at);
        result = await attempt();
        if ('missing' in result) throw new Error('budget period was not created');
      }
      return result;

      async function reserveLocked(
        trx: Transaction<DB>,
        states: BudgetState[],
      ): Promise<ReserveResult> {
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
        if (states.length > 0) {
          await trx
            .updateTable('llm_budget_period')
            .set({ reserved_nano: sql`reserved_nano + ${options.amountNano}` })
            .where((eb) =>
              eb.or(
                states.map((state) =>
                  eb.and([
                    eb('budget_id', '=', state.budget.id),
                    eb('period_start', '=', state.periodStart),
                  ]),
                ),
              ),
            )
            .execute();
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
      }
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
      // One statement, atomic on its own (no transaction around it: one round trip): the
      // reservation is deleted, and each held period gives back what the deletion returned
      // (nothing when the sweep got there first) and counts the cost. The period rows are
      // locked in budget id order first, as `reserve` locks them.
      await sql`
        with released as (
          delete from llm_budget_reservation where id = ${reservationId}
          returning budget_id, period_start, amount_nano
        ), locked as (
          select p.budget_id, p.period_start
          from llm_budget_period p
          where (p.budget_id, p.period_start) in (
            select * from unnest(
              ${holds.map((hold) => hold.budgetId)}::uuid[],
              ${holds.map((hold) => hold.periodStart.toISOString())}::timestamptz[]
            )
          )
          order by p.budget_id
          for update
        )
        update llm_budget_period p
        set reserved_nano = p.reserved_nano - coalesce(r.amount_nano, 0),
          spent_nano = p.spent_nano + ${costNano}
        from locked l
        left join released r
          on r.budget_id = l.budget_id and r.period_start = l.period_start
        where p.budget_id = l.budget_id and p.period_start = l.period_start
      `.execute(db);
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
      return stampFirst(db, 'llm_budget_period', 'soft_warned_at', at, {
        budget_id: budgetId,
        period_start: start,
      });
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
