import type { Actor } from '../access/actor.ts';
import { conflict, notFound } from '../platform/app-error.ts';
import { isUniqueViolation } from '../platform/db/db-errors.ts';
import { uuidv7 } from '../platform/ids.ts';
import { type LlmAdminDeps, parse } from './llm-admin-context.ts';
import { presentPriceOverride } from './llm-presenter.ts';
import { ratesFromUsd } from './llm-prices.ts';
import { priceOverrideSchema } from './llm-schema.ts';

/** A price override that was set or removed: from `validFrom` on, calls of `model` cost anew. */
export interface PriceChange {
  projectId: string;
  model: string;
  validFrom: Date;
}

/**
 * A project's price overrides: listed by viewers, set and removed by owners. Other features
 * priced with them (the monitor's stored events) hear of each change through `onPriceChange`.
 */
export function createPriceAdmin(deps: LlmAdminDeps) {
  const { access, prices, clock } = deps;
  const listeners = new Set<(change: PriceChange) => void>();
  const changed = (change: PriceChange) => {
    for (const listener of listeners) listener(change);
  };
  return {
    onPriceChange(listener: (change: PriceChange) => void) {
      listeners.add(listener);
    },
    async listPrices(actor: Actor, projectId: string) {
      await access.requireRole(actor, projectId, 'viewer');
      return (await prices.list(projectId)).map(presentPriceOverride);
    },
    async createPrice(actor: Actor, projectId: string, input: unknown) {
      await access.requireRole(actor, projectId, 'owner');
      const body = parse(priceOverrideSchema, input);
      try {
        const override = await prices.insert({
          id: uuidv7(clock.now()),
          projectId,
          model: body.model,
          rates: ratesFromUsd(body),
          validFrom: body.validFrom ? new Date(body.validFrom) : new Date(clock.now()),
          createdBy: actor.userId,
        });
        deps.llm.invalidatePrices(projectId);
        changed({ projectId, model: override.model, validFrom: override.validFrom });
        return presentPriceOverride(override);
      } catch (error) {
        if (isUniqueViolation(error))
          throw conflict('A price for this model already starts at that moment');
        throw error;
      }
    },
    async deletePrice(actor: Actor, projectId: string, priceId: string) {
      await access.requireRole(actor, projectId, 'owner');
      const removed = (await prices.list(projectId)).find((price) => price.id === priceId);
      if (!removed || !(await prices.delete(projectId, priceId))) throw notFound('price', priceId);
      deps.llm.invalidatePrices(projectId);
      changed({ projectId, model: removed.model, validFrom: removed.validFrom });
    },
  };
}
