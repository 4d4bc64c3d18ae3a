import { systemActor } from '../../auth/system-actor.ts';
import type { LlmModule } from '../../llm/llm-module.ts';
import {
  defaultCatalogProvider,
  type PriceSource,
  usdPerMtokToNano,
} from '../../llm/llm-prices.ts';
import type { GenerationConfig } from '../../platform/config.ts';

/**
 * What an estimate prices a model's calls with: the catalog of the provider that would answer
 * (the named one, else the first enabled provider offering the model), a project's own price
 * override valid now, and how many calls that provider takes at once.
 */
export async function priceFor(
  deps: { llm: Pick<LlmModule, 'admin'>; config: GenerationConfig },
  projectId: string,
  provider: string | undefined,
  model: string,
) {
  const actor = systemActor();
  const { admin } = deps.llm;
  let view: { kind: string; catalogProvider: string | null; maxConcurrency: number } | undefined;
  try {
    view = provider
      ? await admin.getProvider(actor, projectId, provider)
      : (await admin.listProviders(actor, projectId)).find(
          (candidate) =>
            candidate.enabled &&
            (candidate.models.length === 0 || candidate.models.includes(model)),
        );
  } catch {
    // An unknown provider: the price stays unknown; the run itself will say why it fails.
  }
  const now = new Date();
  const overrides = (await admin.listPrices(actor, projectId).catch(() => []))
    .filter((price) => price.model === model && new Date(price.validFrom) <= now)
    .sort((a, b) => (a.validFrom < b.validFrom ? 1 : -1));
  const override = overrides[0];
  const source: PriceSource = {
    catalogProviderId:
      view?.catalogProvider ?? (view?.kind ? defaultCatalogProvider(view.kind) : undefined),
    override: override
      ? {
          inputNanoPerMtok: usdPerMtokToNano(override.inputUsdPerMtok ?? 0),
          outputNanoPerMtok: usdPerMtokToNano(override.outputUsdPerMtok ?? 0),
          cacheReadNanoPerMtok:
            override.cacheReadUsdPerMtok === null
              ? undefined
              : usdPerMtokToNano(override.cacheReadUsdPerMtok),
          cacheWriteNanoPerMtok:
            override.cacheWriteUsdPerMtok === null
              ? undefined
              : usdPerMtokToNano(override.cacheWriteUsdPerMtok),
        }
      : undefined,
    at: now,
  };
  return { source, maxConcurrency: view?.maxConcurrency ?? deps.config.concurrency };
}
