import type { Registry } from 'prom-client';
import type { ProjectAccess } from '../access/project-access.ts';
import type { CacheInvalidation } from '../platform/cache-invalidation.ts';
import type { LlmConfig } from '../platform/config.ts';
import type { Database } from '../platform/db/database.ts';
import type { Logger } from '../platform/logger.ts';
import type { Telemetry } from '../platform/telemetry.ts';
import { createLlmAdmin } from './llm-admin-service.ts';
import { createBudgetGuard } from './llm-budget-guard.ts';
import { createBudgetStore } from './llm-budget-store.ts';
import { createResponseCache } from './llm-cache.ts';
import { type Clock, systemClock } from './llm-clock.ts';
import { createLlmImageService } from './llm-images.ts';
import { createLlmMetrics } from './llm-metrics.ts';
import { createPriceStore } from './llm-price-store.ts';
import {
  createProviderRegistry,
  type ProviderFactory,
  type SecretSealer,
} from './llm-provider-registry.ts';
import { createProviderStore } from './llm-provider-store.ts';
import { createSdkProvider } from './llm-sdk-provider.ts';
import { createLlmService } from './llm-service.ts';
import { connectSharedRedis, type SharedLimitsOptions } from './llm-shared-redis.ts';
import { UsageOutbox } from './llm-usage-outbox.ts';
import { UsageRecorder } from './llm-usage-recorder.ts';
import { createUsageStore } from './llm-usage-store.ts';

export interface LlmModuleDeps {
  config: LlmConfig;
  database: Database;
  logger: Logger;
  access: ProjectAccess;
  /** Seals provider keys at rest (the platform's secret box). */
  secrets: SecretSealer;
  /** Where the LLM counters are registered (the app's /metrics registry); none: no metrics. */
  registry?: Registry | undefined;
  clock?: Clock;
  /** Trace export (the platform's, when OTEL_EXPORTER_OTLP_ENDPOINT is set); none: no spans. */
  telemetry?: Telemetry | undefined;
  /** Builds the adapter for a connection; tests may wrap it. Default: the AI SDK adapter. */
  providerFactory?: ProviderFactory;
  /**
   * REDIS_URL: provider concurrency, requests per minute, 429 back-off and breakers are shared
   * by every server of the deployment (docs/llm.md).
   */
  redisUrl?: string | undefined;
  /** The same with lease, poll and key settings (tests); wins over `redisUrl`. */
  sharedLimits?: SharedLimitsOptions | undefined;
  /**
   * Servers sharing a PostgreSQL: a provider, budget or price change made here drops the other
   * servers' cached copies too (issue #20 item 6), not only this server's.
   */
  invalidation?: CacheInvalidation | undefined;
  /**
   * The usage outbox's folder (embedded PGlite only: `<dataDir>/llm-usage-outbox`): calls that
   * ask for `usageDurability: 'outbox'` (the gateway's) answer once their usage row is there,
   * and rows a killed process left are replayed (llm-usage-outbox.ts). None: every row is
   * committed before its call answers.
   */
  usageOutboxDir?: string | undefined;
}

/**
 * Wires src/llm: stores over the metadata database, the provider registry, budgets, cache,
 * usage recorder, the call service (`llm`) and the admin use cases (`admin`).
 * `close()` writes pending usage and stops the reservation sweep.
 */
export function createLlmModule(deps: LlmModuleDeps) {
  const clock = deps.clock ?? systemClock;
  const db = deps.database.db;
  const logger = deps.logger.child({ module: 'llm' });
  const usageStore = createUsageStore(db);
  const budgetStore = createBudgetStore(db);
  const providerStore = createProviderStore(db);
  const priceStore = createPriceStore(db);
  const recorder = new UsageRecorder({
    store: usageStore,
    logger,
    flushMs: deps.config.usageFlushMs,
    outbox: deps.usageOutboxDir ? new UsageOutbox(deps.usageOutboxDir) : undefined,
  });
  const sharedOptions =
    deps.sharedLimits ?? (deps.redisUrl ? { redisUrl: deps.redisUrl } : undefined);
  const shared = sharedOptions && connectSharedRedis(sharedOptions, logger);
  const registry = createProviderRegistry({
    shared,
    store: providerStore,
    secrets: deps.secrets,
    config: deps.config,
    clock,
    factory: deps.providerFactory ?? ((options) => createSdkProvider(options)),
  });
  const budgets = createBudgetGuard({ store: budgetStore, clock, logger });
  const cache = createResponseCache(db, deps.config.cacheMemoryEntries, {
    flushMs: deps.config.usageFlushMs,
    onError: (error) => logger.error({ err: error }, 'llm cache write failed; will retry'),
    // Embedded: the process holding the data dir is the table's one writer.
    soleWriter: deps.database.kind === 'pglite',
  });
  const metrics = deps.registry ? createLlmMetrics(deps.registry) : undefined;

  // Text and image calls share the registry, budgets, prices and usage rows.
  const callDeps = {
    config: deps.config,
    logger,
    clock,
    access: deps.access,
    registry,
    budgets,
    prices: priceStore,
    recorder,
    metrics,
  };
  const llm = createLlmService({ ...callDeps, cache, telemetry: deps.telemetry });
  // Image generation: docs/images.md.
  const images = createLlmImageService(callDeps);
  if (deps.invalidation) {
    // The admin use cases call these after a change: every server then drops its copy.
    registry.invalidate = deps.invalidation.share('llm-provider', registry.invalidate);
    budgets.invalidate = deps.invalidation.share('llm-budgets', budgets.invalidate);
    llm.invalidatePrices = deps.invalidation.share('llm-prices', llm.invalidatePrices);
  }

  const admin = createLlmAdmin({
    config: deps.config,
    clock,
    access: deps.access,
    secrets: deps.secrets,
    registry,
    providers: providerStore,
    prices: priceStore,
    budgetStore,
    budgets,
    usage: usageStore,
    cache,
    llm,
  });

  // Reservations of a process that died mid-call expire; sweep them now and then.
  const sweep = () =>
    budgets.releaseExpired().catch((error: unknown) => {
      logger.warn({ err: error }, 'llm budget reservation sweep failed');
    });
  const sweeper = setInterval(sweep, 60_000);
  sweeper.unref();
  void sweep();

  return {
    llm,
    images,
    /** The response cache, for image edits (keyed by their input images; docs/images.md). */
    cache,
    admin,
    registry,
    async close(): Promise<void> {
      clearInterval(sweeper);
      await images.flush();
      await llm.flush();
      await recorder.close();
      registry.closeGuards();
      await shared?.close();
    },
    /** Tests: stops as a killed server would — no lease renewed or released, Redis dropped. */
    kill(): void {
      clearInterval(sweeper);
      registry.closeGuards();
      shared?.kill();
    },
  };
}

export type LlmModule = ReturnType<typeof createLlmModule>;

declare module 'fastify' {
  interface FastifyInstance {
    /** The LLM module: `llm` (calls), `admin` (providers, prices, budgets, spend, cache). */
    readonly llm: LlmModule;
  }
}
