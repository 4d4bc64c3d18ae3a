import type { Actor } from '../access/actor.ts';
import type { ProjectAccess } from '../access/project-access.ts';
import { AppError, type ErrorCode, validationError } from '../platform/app-error.ts';
import type { LlmConfig } from '../platform/config.ts';
import { uuidv7 } from '../platform/ids.ts';
import type { Logger } from '../platform/logger.ts';
import type { Telemetry } from '../platform/telemetry.ts';
import { CircuitBreaker } from './llm-breaker.ts';
import type { BudgetGuard, Reservation } from './llm-budget-guard.ts';
import type { Budget } from './llm-budget-store.ts';
import { type CachedResponse, cacheKey, type ResponseCache } from './llm-cache.ts';
import type { Clock } from './llm-clock.ts';
import { AdaptiveLimiter } from './llm-limiter.ts';
import { countTokens, type LlmMetrics } from './llm-metrics.ts';
import type { PriceOverride, PriceStore } from './llm-price-store.ts';
import { overrideAt } from './llm-price-store.ts';
import { costNano, defaultCatalogProvider, maxCostNano, type PriceSource } from './llm-prices.ts';
import type {
  FailureKind,
  FinishReason,
  JsonSchema,
  LlmMessage,
  LlmParameters,
  LlmToolCallPart,
  LlmToolChoice,
  LlmToolDefinition,
  ProviderFinish,
  TokenUsage,
} from './llm-provider.ts';
import { ProviderFailure, UNKNOWN_USAGE } from './llm-provider.ts';
import type { ProviderRegistry, ResolvedTarget } from './llm-provider-registry.ts';
import type { FallbackTarget } from './llm-provider-store.ts';
import {
  type AttemptOutcome,
  RouteFailure,
  type RouterHooks,
  type RouterPolicy,
  type RouteTarget,
  route,
  type Timeouts,
} from './llm-router.ts';
import { callSchema } from './llm-schema.ts';
import { CallTrace } from './llm-telemetry.ts';
import { countOutputTokens, estimateInputTokens } from './llm-tokens.ts';
import type { UsageRecorder } from './llm-usage-recorder.ts';
import type { UsageRow } from './llm-usage-store.ts';

/**
 * The one entry point for LLM calls. Every feature (sheet cells, chat, summaries, search
 * queries) calls `llm.stream(...)` or `llm.generate(...)`; nothing else talks to a provider.
 */
export interface LlmCallRequest {
  /** When given, the actor must be an editor of the project. Jobs acting for a user may pass `userId` instead. */
  actor?: Actor | undefined;
  projectId: string;
  /** Who the call is for (budgets per user, usage rows); defaults to `actor.userId`. */
  userId?: string | undefined;
  /** `sheet-cell`, `chat`, `summary`, `search-query`, … (usage, metrics, timeouts). */
  feature: string;
  /** What the call is about, e.g. `{ datasetId, columnId, rowId }`; recorded with usage. */
  entityIds?: Record<string, string> | undefined;
  /**
   * The gateway key (src/gateway) an outside caller used: that key's budgets bind the call
   * too, and usage rows carry it as `entityIds.gatewayKeyId`.
   */
  gatewayKeyId?: string | undefined;
  /** Provider id (uuid) or `env:<kind>`; omitted: the connection that lists `model`. */
  provider?: string | undefined;
  model: string;
  messages: LlmMessage[];
  parameters?: LlmParameters | undefined;
  /** JSON Schema for structured output; the result's `output` holds the parsed value. */
  outputSchema?: JsonSchema | undefined;
  /**
   * Tools the model may call. Their calls come back as `tool-call` events and in the result's
   * `toolCalls` (finish reason `tool-calls`); running them and sending a `tool` message back is
   * the caller's loop, never inside an attempt the router may retry.
   */
  tools?: LlmToolDefinition[] | undefined;
  /** Default `auto`. A named tool must be one of `tools`. */
  toolChoice?: LlmToolChoice | undefined;
  /** Aborting it cancels the call and closes the upstream HTTP request. */
  signal?: AbortSignal | undefined;
  /** `use` (default): read and write the cache; `bypass`: regenerate and overwrite; `off`: neither. */
  cache?: 'use' | 'bypass' | 'off' | undefined;
  /** Per-call overrides of the feature's timeouts. */
  timeouts?: Partial<Timeouts> | undefined;
  /** Per-call fallback chain; default: the one stored on the provider for this model. */
  fallbacks?: FallbackTarget[] | undefined;
}

export interface LlmCallResult {
  callId: string;
  text: string;
  /** Parsed structured output when `outputSchema` was given. */
  output: unknown;
  /** The answer's tool calls, in order (empty when it made none). */
  toolCalls: LlmToolCallPart[];
  finishReason: FinishReason;
  /** The provider and model that answered (a fallback may have). */
  provider: string;
  providerKind: string;
  model: string;
  /** Usage of the answering attempt (zero tokens on a cache hit). */
  usage: TokenUsage;
  /** All attempts' known costs, nano-USD; null when the answering attempt's price is unknown. */
  costNano: number | null;
  /** Attempts made (0 on a cache hit). */
  attempts: number;
  cacheHit: boolean;
  /** On a cache hit: what the original call cost (null if unknown). */
  savedNano: number | null;
  latencyMs: number;
  timeToFirstTokenMs: number | undefined;
  /** The provider's request id of the answering attempt. */
  requestId: string | undefined;
  /** Settings the provider ignored, soft budgets reached. */
  warnings: string[];
}

export type LlmStreamEvent =
  | { type: 'text-delta'; text: string }
  | { type: 'reasoning-delta'; text: string }
  /** A whole tool call, once its input is complete and parsed. */
  | LlmToolCallPart
  /** A retry or fallback starts after output was streamed: discard the text received so far. */
  | { type: 'attempt-restart'; attempt: number; reason: FailureKind }
  | { type: 'finish'; result: LlmCallResult };

/**
 * A streamed call: iterate it for deltas (the last event is `finish`), or await `result`.
 * Errors are thrown from the iterator (and reject `result`) as AppError; a cancelled call
 * throws the signal's reason. Breaking out of the loop cancels the call.
 */
export class LlmStream implements AsyncIterable<LlmStreamEvent> {
  readonly #events: AsyncGenerator<LlmStreamEvent, void, undefined>;
  #started = false;
  #result: Promise<LlmCallResult> | undefined;
  #resolve!: (result: LlmCallResult) => void;
  #reject!: (error: unknown) => void;

  constructor(events: AsyncGenerator<LlmStreamEvent, void, undefined>) {
    this.#events = events;
  }

  #ensureResult(): Promise<LlmCallResult> {
    this.#result ??= new Promise<LlmCallResult>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    return this.#result;
  }

  // A plain iterator over the call's generator (not another generator around it): one
  // layer less of promises per streamed chunk.
  [Symbol.asyncIterator](): AsyncIterator<LlmStreamEvent> {
    if (this.#started) throw new Error('an LlmStream can be read once');
    this.#started = true;
    this.#ensureResult().catch(() => {});
    const events = this.#events;
    let settled = false;
    // Only a stream closed before its `finish` rejects `result` (no Error made otherwise).
    const closed = () => {
      if (settled) return;
      settled = true;
      this.#reject(new Error('the stream was closed before it finished'));
    };
    return {
      next: () =>
        events.next().then(
          (step) => {
            if (step.done) closed();
            else if (step.value.type === 'finish') {
              settled = true;
              this.#resolve(step.value.result);
            }
            return step;
          },
          (error: unknown) => {
            this.#reject(error);
            throw error;
          },
        ),
      return: (value?: unknown) => {
        closed();
        return events.return(value as undefined);
      },
    };
  }

  /** The final result; reads (and discards) the deltas if nobody iterates. */
  get result(): Promise<LlmCallResult> {
    const result = this.#ensureResult();
    if (!this.#started) {
      void (async () => {
        try {
          for await (const _event of this) {
            // drained
          }
        } catch {
          // surfaced through `result`
        }
      })();
    }
    return result;
  }
}

export interface LlmServiceDeps {
  config: LlmConfig;
  logger: Logger;
  clock: Clock;
  access: ProjectAccess;
  registry: ProviderRegistry;
  budgets: BudgetGuard;
  cache: ResponseCache;
  prices: PriceStore;
  recorder: UsageRecorder;
  metrics: LlmMetrics | undefined;
  /** Trace export (docs/llm.md, "Observability"); undefined: off, one null check per call. */
  telemetry?: Telemetry | undefined;
}

/** Feature name of "test connection" requests in usage rows, metrics and spans. */
export const TEST_CONNECTION_FEATURE = 'test-connection';

/** A "test connection" request: one call to a resolved connection and model. */
export interface ProbeRequest {
  /** The project charged (usage row, budgets); undefined for an instance-wide test. */
  projectId: string | undefined;
  userId: string | undefined;
  target: Pick<ResolvedTarget, 'connection' | 'providerRef' | 'kind' | 'provider' | 'model'>;
  /** The whole request's time limit. */
  timeoutMs: number;
}

export interface ProbeResult {
  callId: string;
  usage: TokenUsage;
  costNano: number | null;
  latencyMs: number;
}

/** Feature defaults when BRAINCELLS_LLM_FEATURE_TIMEOUTS does not name the feature. */
export const FEATURE_TIMEOUTS: Record<string, Partial<Timeouts>> = {
  'sheet-cell': { totalMs: 120_000 },
  'search-query': { firstChunkMs: 15_000, idleMs: 15_000, totalMs: 30_000 },
  chat: { idleMs: 60_000, totalMs: 600_000 },
};

// A tool-call answer is cacheable too: the key covers the tool set and the choice.
const CACHEABLE: ReadonlySet<FinishReason> = new Set(['stop', 'length', 'tool-calls']);

const CODE_BY_KIND: Record<FailureKind, ErrorCode> = {
  'rate-limited': 'RATE_LIMITED',
  overloaded: 'PROVIDER_UNAVAILABLE',
  'server-error': 'PROVIDER_UNAVAILABLE',
  network: 'PROVIDER_UNAVAILABLE',
  'malformed-response': 'PROVIDER_UNAVAILABLE',
  'circuit-open': 'PROVIDER_UNAVAILABLE',
  timeout: 'TIMEOUT',
  authentication: 'PROVIDER_ERROR',
  permission: 'PROVIDER_ERROR',
  'model-not-found': 'PROVIDER_ERROR',
  'bad-request': 'PROVIDER_ERROR',
  'content-filter': 'PROVIDER_ERROR',
  'invalid-output': 'PROVIDER_ERROR',
  aborted: 'PROVIDER_ERROR',
  unknown: 'PROVIDER_ERROR',
};

export function errorCodeFor(kind: FailureKind): ErrorCode {
  return CODE_BY_KIND[kind];
}

/** The AppError a failed call throws: safe message, no prompt, no key. */
export function callError(failure: ProviderFailure, details: Record<string, unknown>): AppError {
  const code = errorCodeFor(failure.kind);
  const retryAfterSeconds =
    failure.retryAfterMs === undefined
      ? undefined
      : Math.max(1, Math.ceil(failure.retryAfterMs / 1000));
  return new AppError(code, failure.message, {
    retryable: failure.retryable || failure.kind === 'circuit-open',
    details: {
      ...details,
      reason: failure.kind,
      ...(failure.status === undefined ? {} : { httpStatus: failure.status }),
      ...(failure.requestId === undefined ? {} : { providerRequestId: failure.requestId }),
      ...(failure.providerMessage === undefined
        ? {}
        : { providerMessage: failure.providerMessage }),
      ...(failure.retryAfterMs === undefined ? {} : { retryAfterMs: failure.retryAfterMs }),
    },
    ...(retryAfterSeconds !== undefined &&
    (code === 'RATE_LIMITED' || code === 'PROVIDER_UNAVAILABLE')
      ? { headers: { 'retry-after': String(retryAfterSeconds) } }
      : {}),
  });
}

interface CallContext {
  callId: string;
  /** Undefined only for an instance-wide connection test (no project to record usage in). */
  projectId: string | undefined;
  userId: string | undefined;
  feature: string;
  entityIds: Record<string, string>;
  cacheStatus: UsageRow['cacheStatus'];
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

interface AttemptContext {
  reservation: Reservation | undefined;
}

export function createLlmService(deps: LlmServiceDeps) {
  const { config, logger, clock, access, registry, budgets, cache, prices, recorder, metrics } =
    deps;
  const telemetry = deps.telemetry;
  const pending = new Set<Promise<unknown>>();
  const overridesCache = new Map<string, { at: number; overrides: PriceOverride[] }>();

  const track = (work: Promise<unknown>) => {
    const tracked = work.catch((error: unknown) => {
      logger.error({ err: error }, 'llm background work failed');
    });
    pending.add(tracked);
    void tracked.finally(() => pending.delete(tracked));
  };

  const policy: RouterPolicy = {
    maxAttempts: config.maxAttempts,
    backoff: {
      baseMs: config.retryBaseMs,
      capMs: config.retryMaxMs,
      maxRetryAfterMs: config.maxRetryAfterMs,
    },
  };

  function timeoutsFor(feature: string, overrides: Partial<Timeouts> | undefined): Timeouts {
    return {
      ...config.timeouts,
      ...FEATURE_TIMEOUTS[feature],
      ...config.featureTimeouts[feature],
      ...overrides,
    };
  }

  async function overridesFor(projectId: string): Promise<PriceOverride[]> {
    const hit = overridesCache.get(projectId);
    if (hit && clock.now() - hit.at < 5_000) return hit.overrides;
    const overrides = await prices.list(projectId);
    if (overridesCache.size > 10_000) overridesCache.clear();
    overridesCache.set(projectId, { at: clock.now(), overrides });
    return overrides;
  }

  function priceSource(
    context: CallContext,
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
  function priceOf(
    context: CallContext,
    target: RouteTarget,
    usage: TokenUsage,
    responseModel: string | undefined,
    at: Date,
  ): number | null {
    const byRequested = costNano(
      usage,
      target.model,
      priceSource(context, target, target.model, at),
    );
    if (byRequested !== null || !responseModel || responseModel === target.model)
      return byRequested;
    return costNano(usage, responseModel, priceSource(context, target, responseModel, at));
  }

  function labels(context: CallContext, target: { kind: string; model: string }) {
    return { provider: target.kind, model: target.model, feature: context.feature };
  }

  /** What an attempt consumed: as reported; estimated when it was cut short; nothing when refused. */
  async function attemptUsage(
    outcome: AttemptOutcome,
    context: CallContext,
  ): Promise<{ usage: TokenUsage; estimated: boolean; billed: boolean }> {
    if (outcome.finish) return { usage: outcome.finish.usage, estimated: false, billed: true };
    const failure = outcome.failure;
    // A refusal before any answer (HTTP error, connection refused, a request the adapter
    // would not send) is not billed.
    const refused =
      !outcome.responseStarted &&
      failure !== undefined &&
      (failure.status !== undefined ||
        failure.kind === 'network' ||
        failure.kind === 'circuit-open' ||
        failure.kind === 'bad-request');
    if (refused) return { usage: UNKNOWN_USAGE, estimated: false, billed: false };
    const input = await estimateInputTokens(context.messages, context.outputSchema, {
      safety: false,
      tools: context.tools,
    });
    const output = await countOutputTokens(outcome.text);
    return {
      usage: {
        uncachedInputTokens: input,
        cacheReadTokens: undefined,
        cacheWriteTokens: undefined,
        outputTokens: output,
        reasoningTokens: undefined,
      },
      estimated: true,
      billed: true,
    };
  }

  function recordAttempt(
    outcome: AttemptOutcome,
    context: CallContext,
    attempt: AttemptContext | undefined,
  ) {
    const { target } = outcome.info;
    const at = new Date(outcome.info.startedAt);
    const finishUsage = async () => {
      const { usage, estimated, billed } = await attemptUsage(outcome, context);
      const cost = billed ? priceOf(context, target, usage, outcome.finish?.responseModel, at) : 0;
      if (cost !== null) context.totalCostNano += cost;
      const failure = outcome.failure;
      context.trace?.attempt(outcome, usage, estimated, cost);
      // An instance-wide connection test has no project: metrics and traces only.
      if (context.projectId !== undefined)
        recorder.add({
          id: uuidv7(),
          callId: context.callId,
          createdAt: at,
          projectId: context.projectId,
          userId: context.userId,
          feature: context.feature,
          entityIds: context.entityIds,
          providerRef: target.providerRef,
          providerKind: target.kind,
          model: target.model,
          attempt: outcome.info.attempt,
          status: outcome.status,
          errorCode: failure ? errorCodeFor(failure.kind) : undefined,
          failureKind: failure?.kind,
          httpStatus: failure?.status,
          requestId: outcome.finish?.requestId ?? failure?.requestId,
          finishReason: outcome.finish?.finishReason,
          cacheStatus: context.cacheStatus,
          usage,
          usageEstimated: estimated,
          costNano: cost,
          savedNano: null,
          latencyMs: outcome.latencyMs,
          ttftMs: outcome.timeToFirstTokenMs,
        });
      if (metrics) {
        const l = labels(context, target);
        metrics.attempts.inc({ ...l, status: outcome.status });
        if (failure && outcome.status !== 'aborted')
          metrics.errors.inc({ ...l, code: errorCodeFor(failure.kind) });
        countTokens(metrics, l, usage);
        if (cost === null) metrics.unpriced.inc(l);
        else if (cost > 0) metrics.costNano.inc(l, cost);
        metrics.latency.observe(
          { provider: target.kind, model: target.model },
          outcome.latencyMs / 1000,
        );
      }
      const reservation = attempt?.reservation;
      if (reservation) {
        // An unknown actual cost settles at the estimate: a budget never under-counts.
        await budgets.settle(reservation, cost ?? reservation.estimateNano);
      }
      return cost;
    };
    const work = finishUsage();
    track(work);
    return work;
  }

  /** The router's hooks of a call: budget reservation before each attempt, usage after. */
  function attemptHooks(
    context: CallContext,
    applicable: readonly Budget[],
    parameters: LlmParameters,
    timeouts: Timeouts,
  ): RouterHooks<AttemptContext> {
    let estimateInput: Promise<number> | undefined;
    return {
      beforeAttempt: async (info) => {
        if (applicable.length === 0) return { reservation: undefined };
        estimateInput ??= estimateInputTokens(context.messages, context.outputSchema, {
          tools: context.tools,
        });
        const at = new Date(info.startedAt);
        const estimate = maxCostNano(
          await estimateInput,
          parameters.maxOutputTokens as number,
          info.target.model,
          priceSource(context, info.target, info.target.model, at),
        );
        // Unknown price: nothing to reserve (see docs/llm.md, "Budgets").
        if (estimate === null) return { reservation: undefined };
        try {
          const { reservation, warnings } = await budgets.reserve({
            reservationId: uuidv7(),
            budgets: applicable,
            estimateNano: estimate,
            expiresInMs: timeouts.totalMs + 300_000,
          });
          for (const warning of warnings)
            if (!context.warnings.includes(warning)) context.warnings.push(warning);
          return { reservation };
        } catch (error) {
          if (error instanceof AppError && error.code === 'BUDGET_EXCEEDED') {
            metrics?.budgetRefusals.inc({ feature: context.feature });
          }
          throw error;
        }
      },
      afterAttempt: (outcome, attemptContext) => {
        context.records.push(recordAttempt(outcome, context, attemptContext));
      },
    };
  }

  /** A call's context; its span starts here when traces are exported. */
  function callContext(
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
  function traceFinish(
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
  function traceFailure(context: CallContext, error: unknown, signal: AbortSignal | undefined) {
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

  async function* run(
    request: LlmCallRequest,
    streaming: boolean,
  ): AsyncGenerator<LlmStreamEvent, void, undefined> {
    const { actor, signal } = request;
    const parsed = callSchema.safeParse({ ...request, actor: undefined, signal: undefined });
    if (!parsed.success) {
      const issues = parsed.error.issues.map((issue) => ({
        path: issue.path.join('.'),
        message: issue.message,
      }));
      throw validationError(`Invalid LLM call: ${issues[0]?.path} ${issues[0]?.message}`, issues);
    }
    const input = parsed.data;
    if (actor) await access.requireRole(actor, input.projectId, 'editor');
    const startedAt = clock.now();
    const callId = uuidv7(startedAt);
    const userId = input.userId ?? actor?.userId;
    const parameters: LlmParameters = {
      ...input.parameters,
      maxOutputTokens: input.parameters?.maxOutputTokens ?? config.defaultMaxOutputTokens,
    };
    const messages = input.messages as LlmMessage[];
    const outputSchema = input.outputSchema as JsonSchema | undefined;
    const tools = input.tools as LlmToolDefinition[] | undefined;
    const toolChoice = input.toolChoice;
    const cacheMode = input.cache ?? 'use';

    const [targets, overrides, applicable] = await Promise.all([
      registry.targets(input.projectId, input.provider, input.model, input.fallbacks),
      overridesFor(input.projectId),
      budgets.budgetsFor(input.projectId, userId, input.gatewayKeyId),
    ]);
    const primary = targets[0] as RouteTarget;
    const context = callContext(
      {
        callId,
        projectId: input.projectId,
        userId,
        feature: input.feature,
        entityIds:
          input.gatewayKeyId === undefined
            ? (input.entityIds ?? {})
            : { ...input.entityIds, gatewayKeyId: input.gatewayKeyId },
        cacheStatus: cacheMode === 'use' ? 'miss' : cacheMode,
        messages,
        outputSchema,
        tools,
        overrides,
      },
      primary,
      parameters,
      streaming,
    );

    try {
      const key =
        cacheMode === 'off'
          ? undefined
          : cacheKey({
              projectId: input.projectId,
              providerRef: primary.providerRef,
              model: primary.model,
              parameters,
              messages,
              outputSchema,
              tools,
              toolChoice,
            });

      if (key !== undefined && cacheMode === 'use') {
        const hit = await cache.get(input.projectId, key);
        metrics?.cache.inc({ feature: input.feature, result: hit ? 'hit' : 'miss' });
        if (hit) {
          yield* replay(hit, context, startedAt);
          return;
        }
      }

      const timeouts = timeoutsFor(input.feature, input.timeouts);
      const events = route<AttemptContext>(
        { messages, parameters, outputSchema, tools, toolChoice, stream: streaming },
        targets,
        {
          policy,
          timeouts,
          signal,
          clock,
          hooks: attemptHooks(context, applicable, parameters, timeouts),
        },
      );

      for await (const event of events) {
        if (event.type !== 'finish') {
          yield event;
          continue;
        }
        const { finish, outcome } = event;
        const target = outcome.info.target;
        // Every attempt's usage is priced before the result reports the call's cost.
        const costs = await Promise.all(context.records);
        const cost = costs.at(-1) ?? null;
        const result: LlmCallResult = {
          callId,
          text: event.text,
          output: finish.output,
          toolCalls: finish.toolCalls ?? [],
          finishReason: finish.finishReason,
          provider: target.providerRef,
          providerKind: target.kind,
          model: target.model,
          usage: finish.usage,
          costNano: cost === null ? null : context.totalCostNano,
          attempts: outcome.info.attempt,
          cacheHit: false,
          savedNano: null,
          latencyMs: clock.now() - startedAt,
          timeToFirstTokenMs:
            outcome.timeToFirstTokenMs === undefined
              ? undefined
              : outcome.info.startedAt - startedAt + outcome.timeToFirstTokenMs,
          requestId: finish.requestId,
          warnings: [...context.warnings, ...finish.warnings],
        };
        if (key !== undefined && CACHEABLE.has(finish.finishReason)) {
          cache.put(input.projectId, key, {
            text: result.text,
            output: result.output,
            ...(result.toolCalls.length > 0 ? { toolCalls: result.toolCalls } : {}),
            finishReason: result.finishReason,
            providerRef: result.provider,
            providerKind: result.providerKind,
            model: result.model,
            usage: result.usage,
            costNano: cost,
          });
        }
        traceFinish(context, target, finish, {
          costNano: result.costNano,
          attempts: result.attempts,
          timeToFirstTokenMs: streaming ? result.timeToFirstTokenMs : undefined,
        });
        logger.debug(
          {
            callId,
            projectId: input.projectId,
            feature: input.feature,
            provider: result.provider,
            model: result.model,
            attempts: result.attempts,
            costNano: result.costNano,
            latencyMs: result.latencyMs,
          },
          'llm call finished',
        );
        yield { type: 'finish', result };
      }
    } catch (error) {
      traceFailure(context, error, signal);
      if (error instanceof RouteFailure) {
        const failure = error.failure;
        const appError = callError(failure, {
          callId,
          provider: error.target?.providerRef,
          // The connection's name, so a cell or a run can say who answered what.
          providerName: (error.target as Partial<ResolvedTarget> | undefined)?.connection?.name,
          model: error.target?.model,
          attempts: error.attempts,
        });
        logger.info(
          {
            callId,
            projectId: input.projectId,
            feature: input.feature,
            provider: error.target?.providerRef,
            model: error.target?.model,
            attempts: error.attempts,
            reason: failure.kind,
            httpStatus: failure.status,
          },
          'llm call failed',
        );
        throw appError;
      }
      throw error;
    } finally {
      context.trace?.close(context.records, () => context.totalCostNano);
    }
  }

  /**
   * "Test connection": one request to a resolved connection and model, with no retry and
   * outside the connection's breaker and limiter (a test must reach the provider even while
   * its circuit is open) and the cache. Budgeted, priced, recorded as a usage row (feature
   * `test-connection`) and traced like any call. Throws the request's ProviderFailure, or an
   * AppError (BUDGET_EXCEEDED) when no request was sent.
   */
  async function probe(request: ProbeRequest): Promise<ProbeResult> {
    const { projectId, userId } = request;
    const startedAt = clock.now();
    const callId = uuidv7(startedAt);
    const parameters: LlmParameters = { maxOutputTokens: 1 };
    const [overrides, applicable] =
      projectId === undefined
        ? [[], []]
        : await Promise.all([overridesFor(projectId), budgets.budgetsFor(projectId, userId)]);
    const target = {
      ...request.target,
      limiter: new AdaptiveLimiter({ maxConcurrency: 1, requestsPerMinute: undefined }, clock),
      breaker: new CircuitBreaker(
        { failureThreshold: 1, openMs: config.breakerOpenMs, maxOpenMs: config.breakerOpenMs },
        clock,
      ),
    };
    const context = callContext(
      {
        callId,
        projectId,
        userId,
        feature: TEST_CONNECTION_FEATURE,
        entityIds: {},
        cacheStatus: 'off',
        messages: [{ role: 'user', content: 'Reply with OK.' }],
        outputSchema: undefined,
        tools: undefined,
        overrides,
      },
      target,
      parameters,
      false,
    );
    const limit = request.timeoutMs;
    const timeouts: Timeouts = { firstChunkMs: limit, idleMs: limit, totalMs: limit };
    try {
      const events = route<AttemptContext>(
        { messages: context.messages, parameters, outputSchema: undefined, stream: false },
        [target],
        {
          policy: { ...policy, maxAttempts: 1 },
          timeouts,
          signal: undefined,
          clock,
          hooks: attemptHooks(context, applicable, parameters, timeouts),
        },
      );
      for await (const event of events) {
        if (event.type !== 'finish') continue;
        const [cost] = await Promise.all(context.records);
        const { finish } = event;
        traceFinish(context, target, finish, {
          costNano: cost ?? null,
          attempts: 1,
          timeToFirstTokenMs: undefined,
        });
        return {
          callId,
          usage: finish.usage,
          costNano: cost ?? null,
          latencyMs: clock.now() - startedAt,
        };
      }
      throw new ProviderFailure('unknown', 'the test request ended without an answer');
    } catch (error) {
      traceFailure(context, error, undefined);
      throw error instanceof RouteFailure ? error.failure : error;
    } finally {
      context.trace?.close(context.records, () => context.totalCostNano);
    }
  }

  async function* replay(
    hit: CachedResponse,
    context: CallContext,
    startedAt: number,
  ): AsyncGenerator<LlmStreamEvent, void, undefined> {
    const latencyMs = clock.now() - startedAt;
    const zero: TokenUsage = {
      uncachedInputTokens: 0,
      cacheReadTokens: 0,
      cacheWriteTokens: 0,
      outputTokens: 0,
      reasoningTokens: 0,
    };
    recorder.add({
      id: uuidv7(),
      callId: context.callId,
      createdAt: new Date(startedAt),
      projectId: context.projectId as string,
      userId: context.userId,
      feature: context.feature,
      entityIds: context.entityIds,
      providerRef: hit.providerRef,
      providerKind: hit.providerKind as UsageRow['providerKind'],
      model: hit.model,
      attempt: 1,
      status: 'cache-hit',
      errorCode: undefined,
      failureKind: undefined,
      httpStatus: undefined,
      requestId: undefined,
      finishReason: hit.finishReason,
      cacheStatus: 'hit',
      usage: zero,
      usageEstimated: false,
      costNano: 0,
      savedNano: hit.costNano,
      latencyMs,
      ttftMs: latencyMs,
    });
    context.trace?.finish({
      kind: hit.providerKind as UsageRow['providerKind'],
      providerRef: hit.providerRef,
      responseModel: hit.model,
      responseId: undefined,
      finishReason: hit.finishReason,
      usage: zero,
      costNano: 0,
      attempts: 0,
      cacheHit: true,
      timeToFirstTokenMs: undefined,
    });
    if (hit.text !== '') yield { type: 'text-delta', text: hit.text };
    const toolCalls = hit.toolCalls ?? [];
    for (const call of toolCalls) yield call;
    yield {
      type: 'finish',
      result: {
        callId: context.callId,
        text: hit.text,
        output: hit.output,
        toolCalls,
        finishReason: hit.finishReason,
        provider: hit.providerRef,
        providerKind: hit.providerKind,
        model: hit.model,
        usage: zero,
        costNano: 0,
        attempts: 0,
        cacheHit: true,
        savedNano: hit.costNano,
        latencyMs,
        timeToFirstTokenMs: latencyMs,
        requestId: undefined,
        warnings: [],
      },
    };
  }

  return {
    /** Streams a call: deltas, then `finish` with usage, cost, attempts and cache status. */
    stream(request: LlmCallRequest): LlmStream {
      return new LlmStream(run(request, true));
    },

    /** A non-streaming call (one upstream response); same retries, budgets, cache and usage. */
    async generate(request: LlmCallRequest): Promise<LlmCallResult> {
      let result: LlmCallResult | undefined;
      for await (const event of run(request, false)) {
        if (event.type === 'finish') result = event.result;
      }
      return result as LlmCallResult;
    },

    /** Waits for usage rows, settlements and cache writes still in flight, then writes usage. */
    async flush(): Promise<void> {
      while (pending.size > 0) await Promise.all([...pending]);
      await Promise.all([recorder.flush(), cache.flush()]);
    },

    probe,

    /**
     * The concurrency calls to a provider+model get now: the connection's cap, the adaptive
     * limiter's current limit (lower after 429s) and until when a Retry-After pauses it. The
     * generation engine sizes a run's window from it. No access check: callers check first.
     */
    async concurrency(
      projectId: string,
      provider: string | undefined,
      model: string,
    ): Promise<ProviderConcurrency> {
      const [primary] = await registry.targets(projectId, provider, model, []);
      const target = primary as ResolvedTarget;
      return {
        providerRef: target.providerRef,
        providerName: target.connection.name,
        cap: target.limiter.settings.maxConcurrency,
        limit: target.limiter.limit,
        pausedUntil: target.limiter.pausedUntil > clock.now() ? target.limiter.pausedUntil : null,
      };
    },

    invalidatePrices(projectId: string): void {
      overridesCache.delete(projectId);
    },
  };
}

export type LlmService = ReturnType<typeof createLlmService>;

export interface ProviderConcurrency {
  providerRef: string;
  providerName: string;
  /** The connection's `maxConcurrency`. */
  cap: number;
  /** The adaptive limit now: the cap, or less after 429s. */
  limit: number;
  /** Epoch ms until which a Retry-After holds new attempts; null when not paused. */
  pausedUntil: number | null;
}
