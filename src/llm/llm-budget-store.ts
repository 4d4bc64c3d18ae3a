import type { Kysely } from 'kysely';
import type { DB } from '../migrations/db-schema.ts';
import { createBudgetDefinitions } from './llm-budget-definitions.ts';
import { createGatewayKeyBudgets } from './llm-budget-gateway-keys.ts';
import { createBudgetPeriods } from './llm-budget-periods.ts';

export * from './llm-budget-types.ts';

/**
 * Budgets in PostgreSQL, in three parts: definitions (llm-budget-definitions.ts), a gateway
 * key's budgets (llm-budget-gateway-keys.ts) and spend per period with reservations and
 * settlements (llm-budget-periods.ts).
 */
export function createBudgetStore(db: Kysely<DB>) {
  return {
    ...createBudgetDefinitions(db),
    ...createGatewayKeyBudgets(db),
    ...createBudgetPeriods(db),
  };
}

export type BudgetStore = ReturnType<typeof createBudgetStore>;
