import type { LlmAdminDeps } from './llm-admin-context.ts';
import { createBudgetAdmin } from './llm-budget-admin.ts';
import { createPriceAdmin } from './llm-price-admin.ts';
import { createProviderAdmin } from './llm-provider-admin.ts';
import { createProviderChecks } from './llm-provider-check.ts';
import { createSpendAdmin } from './llm-spend-admin.ts';

export type { LlmAdminDeps } from './llm-admin-context.ts';
export type { ProviderTestResult } from './llm-provider-check.ts';

/**
 * The LLM admin use cases behind the routes and the CLI, each part in its own file:
 * provider connections (llm-provider-admin.ts), checking them (llm-provider-check.ts),
 * prices, budgets and spend (llm-price-admin.ts, llm-budget-admin.ts, llm-spend-admin.ts).
 */
export function createLlmAdmin(deps: LlmAdminDeps) {
  return {
    ...createProviderAdmin(deps),
    ...createProviderChecks(deps),
    ...createPriceAdmin(deps),
    ...createBudgetAdmin(deps),
    ...createSpendAdmin(deps),
  };
}

export type LlmAdmin = ReturnType<typeof createLlmAdmin>;
