// Budgets and their periods: the types the budget store, guard and admin share.

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
