import { periodStart } from '../llm/llm-budget-types.ts';

/**
 * Budget burn of our own LLM calls: a budget's spend so far in its period (the LLM module's
 * figure, read through its admin service), the rate it was spent at since the period began,
 * and where that rate ends the period. Pure arithmetic on integer nano-USD.
 */

/** A budget as the LLM module's admin service lists it (`listBudgets`). */
export interface BudgetState {
  id: string;
  scope: 'project' | 'user';
  userId: string | null;
  period: 'day' | 'week' | 'month' | 'total';
  hardLimitNano: number | null;
  softLimitNano: number | null;
  /** Null when the budget has no state yet (no call in its period). */
  periodStart: string | null;
  spentNano: number;
  reservedNano: number;
}

export interface BudgetBurn extends BudgetState {
  /** The period's end (UTC; weeks from Monday); null for a `total` budget. */
  periodEnd: string | null;
  /**
   * Spend per hour since the period began (not rounded: a small spend over a long period is a
   * fraction of a nano-USD per hour); null in its first minute (too short to tell).
   */
  burnNanoPerHour: number | null;
  /** Spend at the period's end at that rate; null for `total` budgets or no rate. */
  projectedNano: number | null;
  /** When the hard limit is reached at that rate, if within the period; else null. */
  exhaustsAt: string | null;
  /** spent ÷ hard limit (or soft, without a hard one); null without limits. */
  usedShare: number | null;
}

const HOUR_MS = 3_600_000;
const MIN_ELAPSED_MS = 60_000;

function periodEndOf(period: BudgetState['period'], start: Date): Date | null {
  const y = start.getUTCFullYear();
  const m = start.getUTCMonth();
  const d = start.getUTCDate();
  switch (period) {
    case 'day':
      return new Date(Date.UTC(y, m, d + 1));
    case 'week':
      return new Date(Date.UTC(y, m, d + 7));
    case 'month':
      return new Date(Date.UTC(y, m + 1, 1));
    case 'total':
      return null;
  }
}

export function budgetBurn(budget: BudgetState, now: Date): BudgetBurn {
  const start = budget.periodStart ? new Date(budget.periodStart) : periodStart(budget.period, now);
  const end = periodEndOf(budget.period, start);
  const elapsed = now.getTime() - start.getTime();
  const burn = elapsed >= MIN_ELAPSED_MS ? (budget.spentNano * HOUR_MS) / elapsed : null;
  let projected: number | null = null;
  let exhaustsAt: string | null = null;
  if (end && burn !== null) {
    const remainingHours = Math.max(0, end.getTime() - now.getTime()) / HOUR_MS;
    projected = Math.round(budget.spentNano + burn * remainingHours);
  }
  const limit = budget.hardLimitNano;
  if (limit !== null && burn !== null && burn > 0) {
    const left = limit - budget.spentNano;
    const at = left <= 0 ? now : new Date(now.getTime() + (left / burn) * HOUR_MS);
    if (!end || at.getTime() < end.getTime()) exhaustsAt = at.toISOString();
  }
  const cap = budget.hardLimitNano ?? budget.softLimitNano;
  return {
    ...budget,
    periodStart: start.toISOString(),
    periodEnd: end ? end.toISOString() : null,
    burnNanoPerHour: burn,
    projectedNano: projected,
    exhaustsAt,
    usedShare: cap ? budget.spentNano / cap : null,
  };
}
