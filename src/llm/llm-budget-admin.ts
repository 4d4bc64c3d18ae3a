import type { Actor } from '../access/actor.ts';
import { conflict, notFound, validationError } from '../platform/app-error.ts';
import { isUniqueViolation } from '../platform/db/db-errors.ts';
import { uuidv7 } from '../platform/ids.ts';
import { pickDefined } from '../platform/pick-defined.ts';
import { type LlmAdminDeps, parse } from './llm-admin-context.ts';
import type { BudgetPeriod } from './llm-budget-store.ts';
import { presentBudget } from './llm-presenter.ts';
import { budgetCreateSchema, budgetUpdateSchema } from './llm-schema.ts';

/** Budgets of a project, a user or a gateway key: read by viewers, changed by owners. */
export function createBudgetAdmin(deps: LlmAdminDeps) {
  const { access, budgetStore, budgets, clock } = deps;
  return {
    async listBudgets(actor: Actor, projectId: string) {
      await access.requireRole(actor, projectId, 'viewer');
      const list = await budgetStore.list(projectId);
      const states = await budgetStore.states(list, new Date(clock.now()));
      return list.map((budget, index) => presentBudget(budget, states[index]));
    },
    /**
     * Replaces a gateway key's budgets (src/gateway): one hard limit per period, settled through
     * the same reservations as every call. The gateway checks the key belongs to the project.
     */
    async setGatewayKeyBudgets(
      actor: Actor,
      projectId: string,
      gatewayKeyId: string,
      limits: readonly { period: BudgetPeriod; hardLimitNano: number }[],
    ) {
      await access.requireRole(actor, projectId, 'owner');
      await deps.llm.flush();
      await budgetStore.replaceForGatewayKey(
        projectId,
        gatewayKeyId,
        limits.map((limit) => ({ ...limit, id: uuidv7(clock.now()) })),
        actor.userId,
      );
      budgets.invalidate(projectId);
    },

    /** A gateway key's budgets with their current spend (viewer). */
    async gatewayKeyBudgets(actor: Actor, projectId: string, gatewayKeyId: string) {
      await access.requireRole(actor, projectId, 'viewer');
      const list = await budgetStore.listForGatewayKey(projectId, gatewayKeyId);
      const states = await budgetStore.states(list, new Date(clock.now()));
      return list.map((budget, index) => presentBudget(budget, states[index]));
    },

    async createBudget(actor: Actor, projectId: string, input: unknown) {
      await access.requireRole(actor, projectId, 'owner');
      const body = parse(budgetCreateSchema, input);
      // A new budget's period starts from the spend in llm_calls: write buffered rows first.
      await deps.llm.flush();
      try {
        const budget = await budgetStore.insert({
          id: uuidv7(clock.now()),
          projectId,
          userId: body.userId,
          period: body.period,
          hardLimitNano: body.hardLimitNano,
          softLimitNano: body.softLimitNano,
          createdBy: actor.userId,
        });
        budgets.invalidate(projectId);
        const [state] = await budgetStore.states([budget], new Date(clock.now()));
        return presentBudget(budget, state);
      } catch (error) {
        if (isUniqueViolation(error))
          throw conflict('This project already has a budget for that scope and period');
        if ((error as { code?: unknown } | undefined)?.code === '23503') {
          throw validationError('Invalid userId: no such user', [
            { path: 'userId', message: 'no such user' },
          ]);
        }
        throw error;
      }
    },
    async updateBudget(actor: Actor, projectId: string, budgetId: string, input: unknown) {
      await access.requireRole(actor, projectId, 'owner');
      const body = parse(budgetUpdateSchema, input);
      const current = await budgetStore.find(projectId, budgetId);
      if (!current) throw notFound('budget', budgetId);
      const hard =
        body.hardLimitNano === undefined
          ? current.hardLimitNano
          : (body.hardLimitNano ?? undefined);
      const soft =
        body.softLimitNano === undefined
          ? current.softLimitNano
          : (body.softLimitNano ?? undefined);
      if (hard === undefined && soft === undefined) {
        throw validationError('A budget needs a hard or a soft limit', [
          { path: 'hardLimitNano', message: 'set a hard or a soft limit' },
        ]);
      }
      const budget = await budgetStore.update(
        projectId,
        budgetId,
        pickDefined(body, ['hardLimitNano', 'softLimitNano']),
      );
      if (!budget) throw notFound('budget', budgetId);
      budgets.invalidate(projectId);
      const [state] = await budgetStore.states([budget], new Date(clock.now()));
      return presentBudget(budget, state);
    },
    async deleteBudget(actor: Actor, projectId: string, budgetId: string) {
      await access.requireRole(actor, projectId, 'owner');
      if (!(await budgetStore.delete(projectId, budgetId))) throw notFound('budget', budgetId);
      budgets.invalidate(projectId);
    },
  };
}
