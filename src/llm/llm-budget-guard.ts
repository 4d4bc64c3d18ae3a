import { AppError } from '../platform/app-error.ts';
import type { Logger } from '../platform/logger.ts';
import type { Budget, BudgetHold, BudgetState, BudgetStore } from './llm-budget-store.ts';
import type { Clock } from './llm-clock.ts';
import { sharedLoads } from './llm-shared-loads.ts';

export interface Reservation {
  id: string;
  holds: BudgetHold[];
  estimateNano: number;
}

/**
 * The budget step of every call: reserve the call's maximum cost before it is sent, settle
 * the real cost after. Which budgets apply is cached for a few seconds per project (this
 * process drops its cache at once when budgets change through it; other servers see a change
 * within `ttlMs`).
 */
export function createBudgetGuard(options: {
  store: BudgetStore;
  clock: Clock;
  logger: Logger;
  ttlMs?: number;
}) {
  const { store, clock, logger } = options;
  const ttlMs = options.ttlMs ?? 5_000;
  const cache = new Map<string, { at: number; budgets: Budget[] }>();
  const reads = sharedLoads<Budget[]>();

  return {
    async budgetsFor(
      projectId: string,
      userId: string | undefined,
      gatewayKeyId?: string | undefined,
    ): Promise<Budget[]> {
      const key = `${projectId}:${userId ?? ''}:${gatewayKeyId ?? ''}`;
      const hit = cache.get(key);
      if (hit && clock.now() - hit.at < ttlMs) return hit.budgets;
      return reads.load(key, async () => {
        const budgets = await store.applicable(projectId, userId, gatewayKeyId);
        if (cache.size > 10_000) cache.clear();
        cache.set(key, { at: clock.now(), budgets });
        return budgets;
      });
    },

    invalidate(projectId: string): void {
      for (const key of cache.keys()) if (key.startsWith(`${projectId}:`)) cache.delete(key);
      reads.forgetWhere((key) => key.startsWith(`${projectId}:`));
    },

    /** Throws BUDGET_EXCEEDED (not retryable) when a hard limit cannot hold the estimate. */
    async reserve(input: {
      reservationId: string;
      budgets: readonly Budget[];
      estimateNano: number;
      expiresInMs: number;
    }): Promise<{ reservation: Reservation; warnings: string[] }> {
      const at = new Date(clock.now());
      const result = await store.reserve({
        reservationId: input.reservationId,
        budgets: input.budgets,
        amountNano: input.estimateNano,
        at,
        expiresAt: new Date(at.getTime() + input.expiresInMs),
      });
      if (!result.ok) throw budgetExceeded(result.exceeded, input.estimateNano);
      const warnings: string[] = [];
      for (const state of result.softExceeded) {
        warnings.push(
          `soft budget (${state.budget.period}${state.budget.userId ? ', user' : ''}) is used up`,
        );
        void store
          .markSoftWarned(state.budget.id, state.periodStart, at)
          .then((first) => {
            if (first) {
              logger.warn(
                {
                  budgetId: state.budget.id,
                  projectId: state.budget.projectId,
                  period: state.budget.period,
                  softLimitNano: state.budget.softLimitNano,
                  spentNano: state.spentNano,
                },
                'llm soft budget reached',
              );
            }
          })
          .catch(() => {});
      }
      return {
        reservation: {
          id: input.reservationId,
          holds: result.holds,
          estimateNano: input.estimateNano,
        },
        warnings,
      };
    },

    settle(reservation: Reservation, costNano: number): Promise<void> {
      return store.settle(reservation.id, reservation.holds, costNano);
    },

    releaseExpired(): Promise<number> {
      return store.releaseExpired(new Date(clock.now()));
    },
  };
}

export type BudgetGuard = ReturnType<typeof createBudgetGuard>;

export function budgetExceeded(state: BudgetState, estimateNano: number): AppError {
  const { budget } = state;
  const scope = budget.gatewayKeyId
    ? "this gateway key's"
    : budget.userId
      ? 'your'
      : "the project's";
  const adjective = { day: 'daily', week: 'weekly', month: 'monthly', total: 'total' }[
    budget.period
  ];
  return new AppError(
    'BUDGET_EXCEEDED',
    `This call would exceed ${scope} ${adjective} LLM budget`,
    {
      retryable: false,
      details: {
        budgetId: budget.id,
        scope: budget.gatewayKeyId ? 'gateway-key' : budget.userId ? 'user' : 'project',
        period: budget.period,
        periodStart: state.periodStart.toISOString(),
        limitNano: budget.hardLimitNano,
        spentNano: state.spentNano,
        reservedNano: state.reservedNano,
        estimateNano,
      },
    },
  );
}
