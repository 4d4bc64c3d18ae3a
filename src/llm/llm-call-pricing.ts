import type { CallContext } from './llm-call-context.ts';
import { overrideAt } from './llm-price-store.ts';
import { costNano, defaultCatalogProvider, type PriceSource } from './llm-prices.ts';
import type { TokenUsage } from './llm-provider.ts';
import type { ResolvedTarget } from './llm-provider-registry.ts';
import type { RouteTarget } from './llm-router.ts';

/** Where a target's price comes from: the project's override for the model, else the catalog. */
export function priceSource(
  context: Pick<CallContext, 'overrides'>,
  target: RouteTarget,
  model: string,
  at: Date,
): PriceSource {
  // Targets from the registry carry their connection (whose catalog provider prices them).
  const connection = (target as Partial<ResolvedTarget>).connection;
  return {
    catalogProviderId: connection
      ? connection.catalogProvider
      : defaultCatalogProvider(target.kind),
    override: overrideAt(context.overrides, model, at)?.rates,
    at,
  };
}

/** Cost of a response: priced by the requested model name, else by the name the provider answered with. */
export function priceOf(
  context: Pick<CallContext, 'overrides'>,
  target: RouteTarget,
  usage: TokenUsage,
  responseModel: string | undefined,
  at: Date,
): number | null {
  const byRequested = costNano(usage, target.model, priceSource(context, target, target.model, at));
  if (byRequested !== null || !responseModel || responseModel === target.model) return byRequested;
  return costNano(usage, responseModel, priceSource(context, target, responseModel, at));
}
