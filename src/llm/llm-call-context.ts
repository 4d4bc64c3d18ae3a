import type { ProjectAccess } from '../access/project-access.ts';
import { AppError } from '../platform/app-error.ts';
import type { LlmConfig } from '../platform/config.ts';
import type { Logger } from '../platform/logger.ts';
import type { Telemetry } from '../platform/telemetry.ts';
import type { BudgetGuard, Reservation } from './llm-budget-guard.ts';
import type { ResponseCache } from './llm-cache.ts';
import { errorCodeFor } from './llm-call-errors.ts';
import type { Clock } from './llm-clock.ts';
import type { LlmMetrics } from './llm-metrics.ts';
import type { PriceOverride, PriceStore } from './llm-price-store.ts';
import type {
  JsonSchema,
  LlmMessage,
  LlmParameters,
  LlmToolDefinition,
  ProviderFinish,
} from './llm-provider.ts';
import type { ProviderRegistry } from './llm-provider-registry.ts';
import { RouteFailure, type RouterPolicy, type RouteTarget, type Timeouts } from './llm-router.ts';
import { sharedLoads } from './llm-shared-loads.ts';
import { CallTrace } from './llm-telemetry.ts';
import type { UsageDurability, UsageRecorder } from './llm-usage-recorder.ts';
import type { UsageRow } from './llm-usage-store.ts';

/** What every LLM call needs, text or image: connections, budgets, prices, usage rows. */
export interface LlmCallDeps {
  config: LlmConfig;
  logger: Logger;
  clock: Clock;
  access: ProjectAccess;
  registry: ProviderRegistry;
  budgets: BudgetGuard;
  prices: PriceStore;
  recorder: UsageRecorder;
  metrics: LlmMetrics | undefined;
}

export interface LlmServiceDeps extends LlmCallDeps {
  cache: ResponseCache;
  /** Trace export (docs/llm.md, "Observability"); undefined: off, one null check per call. */
  telemetry?: Telemetry | undefined;
}

/** Feature defaults when BRAINCELLS_LLM_FEATURE_TIMEOUTS does not name the feature. */
export const FEATURE_TIMEOUTS: Record<string, Partial<Timeouts>> = {
  'sheet-cell': { totalMs: 120_000 },
  'search-query': { firstChunkMs: 15_000, idleMs: 15_000, totalMs: 30_000 },
  chat: { idleMs: 60_000, totalMs: 600_000 },
};

/**
 * Features whose calls come by the hundred per second from runs (an AI column's cells): a few
 * milliseconds more per call cost a run nothing (its window holds more cells than the provider
 * takes), so their cache lookups and usage rows wait up to `GROUP_LINGER_MS` (platform/grouped.ts) for company and
 * go to the database together, whatever the number of servers sharing the run traffic.
 */
export const BATCHED_FEATURES: ReadonlySet<string> = new Set([
  'sheet-cell',
  'sheet-rows',
  'sheet-image',
]);

/** One call as its attempts see it: who it is for, what it sends, what it has cost so far. */
export interface CallContext {
  callId: string;
  /** Undefined only for an instance-wide connection test (no project to record usage in). */
  projectId: string | undefined;
  userId: string | undefined;
  feature: string;
  entityIds: Record<string, string>;
  cacheStatus: UsageRow['cacheStatus'];
  /** When its usage rows are safe (llm-usage-recorder.ts). */
  usageDurability: UsageDurability;
  /** A run's call (`BATCHED_FEATURES`): its cache lookup and usage rows may linger. */
  batched: boolean;
  messages: LlmMessage[];
  outputSchema: JsonSchema | undefined;
  tools: LlmToolDefinition[] | undefined;
  overrides: PriceOverride[];
  totalCostNano: number;
  warnings: string[];
  /** Each attempt's usage recording, resolving to its cost. */
  records: Promise<number | null>[];
  trace: CallTrace | undefined;
}

export interface AttemptContext {
  reservation: Reservation | undefined;
}

/**
 * What every call use case of the service shares: its dependencies, the router policy, the
 * background work still in flight (usage, settlements) and the per-project price overrides,
 * read at most every few seconds (`invalidatePrices` drops a project's at once).
 */
export interface CallKit extends LlmServiceDeps {
  policy: RouterPolicy;
  /** Keeps background work (an attempt's usage and settlement) until `flush` waits for it. */
  track(work: Promise<unknown>): void;
  pending: Set<Promise<unknown>>;
  overridesFor(projectId: string): Promise<PriceOverride[]>;
  invalidatePrices(projectId: string): void;
}

const OVERRIDES_TTL_MS = 5_000;

/** The router's retry policy from the settings (BRAINCELLS_LLM_MAX_ATTEMPTS, retry waits). */
export function routerPolicy(config: LlmConfig): RouterPolicy {
  return {
    maxAttempts: config.maxAttempts,
    backoff: {
      baseMs: config.retryBaseMs,
      capMs: config.retryMaxMs,
      maxRetryAfterMs: config.maxRetryAfterMs,
    },
  };
}

export function createCallKit(deps: LlmServiceDeps): CallKit {
  const { config, logger, clock, prices } = deps;
  const pending = new Set<Promise<unknown>>();
  const overridesCache = new Map<string, { at: number; overrides: PriceOverride[] }>();
  const overrideReads = sharedLoads<PriceOverride[]>();
  return {
    ...deps,
    pending,
    policy: routerPolicy(config),
    track(work) {
      const tracked = work.catch((error: unknown) => {
        logger.error({ err: error }, 'llm background work failed');
      });
      pending.add(tracked);
      void tracked.finally(() => pending.delete(tracked));
    },
    async overridesFor(projectId) {
      const hit = overridesCache.get(projectId);
      if (hit && clock.now() - hit.at < OVERRIDES_TTL_MS) return hit.overrides;
      return overrideReads.load(projectId, async () => {
        const overrides = await prices.list(projectId);
        if (overridesCache.size > 10_000) overridesCache.clear();
        overridesCache.set(projectId, { at: clock.now(), overrides });
        return overrides;
      });
    },
    invalidatePrices(projectId) {
      overridesCache.delete(projectId);
      overrideReads.forget(projectId);
    },
  };
}

export function timeoutsFor(
  config: LlmConfig,
  feature: string,
  overrides: Partial<Timeouts> | undefined,
): Timeouts {
  return {
    ...config.timeouts,
    ...FEATURE_TIMEOUTS[feature],
    ...config.featureTimeouts[feature],
    ...overrides,
  };
}

/** A call's context; its span starts here when traces are exported. */
export function callContext(
  telemetry: Telemetry | undefined,
  fields: Omit<CallContext, 'totalCostNano' | 'warnings' | 'records' | 'trace'>,
  primary: Pick<RouteTarget, 'kind' | 'providerRef' | 'model'>,
  parameters: LlmParameters,
  streaming: boolean,
): CallContext {
  return {
    ...fields,
    totalCostNano: 0,
    warnings: [],
    records: [],
    trace: telemetry
      ? new CallTrace(telemetry, {
          callId: fields.callId,
          projectId: fields.projectId,
          feature: fields.feature,
          kind: primary.kind,
          providerRef: primary.providerRef,
          model: primary.model,
          parameters,
          streaming,
        })
      : undefined,
  };
}

/** Reports an answered call on its span: who answered, what it used and cost. */
export function traceFinish(
  context: CallContext,
  target: RouteTarget,
  finish: ProviderFinish,
  result: { costNano: number | null; attempts: number; timeToFirstTokenMs: number | undefined },
) {
  context.trace?.finish({
    kind: target.kind,
    providerRef: target.providerRef,
    responseModel: finish.responseModel ?? target.model,
    responseId: finish.responseId,
    finishReason: finish.finishReason,
    usage: finish.usage,
    cacheHit: false,
    ...result,
  });
}

/** Reports a call that ended without a result on its span (a cancelled call is no error). */
export function traceFailure(
  context: CallContext,
  error: unknown,
  signal: AbortSignal | undefined,
) {
  const trace = context.trace;
  if (!trace || signal?.aborted) return;
  if (error instanceof RouteFailure) {
    const { failure } = error;
    trace.fail(failure.kind, failure.message, errorCodeFor(failure.kind), error.attempts);
  } else if (error instanceof AppError) {
    trace.fail(error.code, error.message, error.code, undefined);
  } else {
    trace.fail('INTERNAL', 'internal error', 'INTERNAL', undefined);
  }
}
