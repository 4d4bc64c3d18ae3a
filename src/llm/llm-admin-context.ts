import type { z } from 'zod';
import type { Actor } from '../access/actor.ts';
import type { ProjectAccess } from '../access/project-access.ts';
import { forbidden, validationError } from '../platform/app-error.ts';
import type { LlmConfig } from '../platform/config.ts';
import type { BudgetGuard } from './llm-budget-guard.ts';
import type { BudgetStore } from './llm-budget-store.ts';
import type { ResponseCache } from './llm-cache.ts';
import type { Clock } from './llm-clock.ts';
import type { PriceStore } from './llm-price-store.ts';
import type { ProviderRegistry, SecretSealer } from './llm-provider-registry.ts';
import type { ProviderStore } from './llm-provider-store.ts';
import type { LlmService } from './llm-service.ts';
import type { UsageStore } from './llm-usage-store.ts';

/** What the admin use cases (providers, prices, budgets, spend) are built from. */
export interface LlmAdminDeps {
  config: LlmConfig;
  clock: Clock;
  access: ProjectAccess;
  secrets: SecretSealer;
  registry: ProviderRegistry;
  providers: ProviderStore;
  prices: PriceStore;
  budgetStore: BudgetStore;
  budgets: BudgetGuard;
  usage: UsageStore;
  cache: ResponseCache;
  llm: LlmService;
}

/** Validates a use case's input, refusing it with each field's problem. */
export function parse<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issues = result.error.issues.map((issue) => ({
    path: issue.path.join('.') || '(body)',
    message: issue.message,
  }));
  const first = issues[0];
  throw validationError(
    first ? `Invalid ${first.path}: ${first.message}` : 'Invalid input',
    issues,
  );
}

export function requireAdmin(actor: Actor): void {
  if (!actor.isAdmin)
    throw forbidden('Only an instance administrator manages instance-wide providers');
}

/** A provider visible in the scope (project members see instance-wide and env ones too). */
export async function visibleProvider(
  deps: Pick<LlmAdminDeps, 'access' | 'registry'>,
  actor: Actor,
  projectId: string | undefined,
  providerId: string,
  role: 'viewer' | 'editor' | 'owner',
) {
  if (projectId === undefined) requireAdmin(actor);
  else await deps.access.requireRole(actor, projectId, role);
  return deps.registry.connection(projectId, providerId);
}
