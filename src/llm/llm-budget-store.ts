import { type Kysely, sql, type Transaction } from 'kysely';
import type { DB } from '../migrations/db-schema.ts';

export const BUDGET_PERIODS = ['day', 'week', 'month', 'total'] as const;
export type BudgetPeriod = (typeof BUDGET_PERIODS)[number];

export interface Budget {
  id: string;
  projectId: string;
  /** Undefined: the whole project. */
  userId: string | undefined;
  /** A gateway key's own budget (src/gateway): binds only calls made with that key. */
  gatewayKeyId: string | undefined;
  period: BudgetPeriod;
  hardLimitNano: number | undefined;
  softLimitNano: number | undefined;
  createdAt: Date;
  updatedAt: Date;
}

export interface BudgetHold {
  budgetId: string;
  periodStart: Date;
}

export type ReserveResult =
  | { ok: true; holds: BudgetHold[]; softExceeded: BudgetState[] }
  | { ok: false; exceeded: BudgetState };

export interface BudgetState {
  budget: Budget;
  periodStart: Date;
  spentNano: number;
  reservedNano: number;
}

/** Start of the period containing `at`, in UTC; weeks start on Monday (ISO 8601). */
export function periodStart(period: BudgetPeriod, at: Date): Date {
  const y = at.getUTCFullYear();
  const m = at.getUTCMonth();
  const d = at.getUTCDate();
  switch (period) {
    case 'day':
      return new Date(Date.UTC(y, m, d));
    case 'week': {
      const sinceMonday = (at.getUTCDay() + 6) % 7;
      return new Date(Date.UTC(y, m, d - sinceMonday));
    }
    case 'month':
      return new Date(Date.UTC(y, m, 1));
    case 'total':
      return new Date(0);
  }
}

type BudgetRecord = {
  id: string;
  project_id: string;
  user_id: string | null;
  gateway_key_id: string | null;
  period: BudgetPeriod;
  hard_limit_nano: number | null;
  soft_limit_nano: number | null;
  created_at: Date;
  updated_at: Date;
};

export function toBudget(row: BudgetRecord): Budget {
  return {
    id: row.id,
    projectId: row.project_id,
    userId: row.user_id ?? undefined,
    gatewayKeyId: row.gateway_key_id ?? undefined,
    period: row.period,
    hardLimitNano: row.hard_limit_nano ?? undefined,
    softLimitNano: row.soft_limit_nano ?? undefined,
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  };
}

const sameInstant = (a: Date, b: Date) => a.getTime() === b.getTime();

export function createBudgetStore(db: Kysely<DB>) {
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

  async function lockPeriods(trx: Transaction<DB>, budgets: readonly Budget[], at: Date) {
    // Sorted, so two transactions always lock in the same order (no deadlock).
    const sorted = [...budgets].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const states: BudgetState[] = [];
    for (const budget of sorted) {
      const start = periodStart(budget.period, at);
      let row = await trx
        .selectFrom('llm_budget_period')
        .select(['spent_nano', 'reserved_nano'])
        .where('budget_id', '=', budget.id)
        .where('period_start', '=', start)
        .forUpdate()
        .executeTakeFirst();
      if (!row) {
        await ensurePeriods(trx, [budget], at);
        row = await trx
          .selectFrom('llm_budget_period')
          .select(['spent_nano', 'reserved_nano'])
          .where('budget_id', '=', budget.id)
          .where('period_start', '=', start)
          .forUpdate()
          .executeTakeFirstOrThrow();
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

    /** The project's and its members' budgets (gateway keys' budgets are listed with the keys). */
    async list(projectId: string): Promise<Budget[]> {
      const rows = await db
        .selectFrom('llm_budget')
        .selectAll()
        .where('project_id', '=', projectId)
        .where('gateway_key_id', 'is', null)
        .orderBy('created_at')
        .execute();
      return rows.map(toBudget);
    },

    async find(projectId: string, budgetId: string): Promise<Budget | undefined> {
      const row = await db
        .selectFrom('llm_budget')
        .selectAll()
        .where('project_id', '=', projectId)
        .where('id', '=', budgetId)
        .where('gateway_key_id', 'is', null)
        .executeTakeFirst();
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
      const result = await db
        .deleteFrom('llm_budget')
        .where('project_id', '=', projectId)
        .where('id', '=', budgetId)
        // A gateway key's budgets change with the key (src/gateway), not here.
        .where('gateway_key_id', 'is', null)
        .executeTakeFirst();
      return Number(result.numDeletedRows) > 0;
    },

    /** The budgets of a gateway key. */
    async listForGatewayKey(projectId: string, gatewayKeyId: string): Promise<Budget[]> {
      const rows = await db
        .selectFrom('llm_budget')
        .selectAll()
        .where('project_id', '=', projectId)
        .where('gateway_key_id', '=', gatewayKeyId)
        .orderBy('created_at')
        .execute();
      return rows.map(toBudget);
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

export type BudgetStore = ReturnType<typeof createBudgetStore>;
