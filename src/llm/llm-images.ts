import type { Actor } from '../access/actor.ts';
import type { ProjectAccess } from '../access/project-access.ts';
import { AppError, validationError } from '../platform/app-error.ts';
import type { LlmConfig } from '../platform/config.ts';
import { uuidv7 } from '../platform/ids.ts';
import type { Logger } from '../platform/logger.ts';
import type { BudgetGuard, Reservation } from './llm-budget-guard.ts';
import { callError, errorCodeFor } from './llm-call-errors.ts';
import type { Clock } from './llm-clock.ts';
import type { ProviderImageInput, ProviderImageResult } from './llm-image-provider.ts';
import { countTokens, type LlmMetrics } from './llm-metrics.ts';
import { overrideAt, type PriceStore } from './llm-price-store.ts';
import { costNano, defaultCatalogProvider, maxCostNano, type PriceSource } from './llm-prices.ts';
import {
  type LlmProvider,
  ProviderFailure,
  type ProviderGenerateResult,
  UNKNOWN_USAGE,
} from './llm-provider.ts';
import type { ProviderRegistry, ResolvedTarget } from './llm-provider-registry.ts';
import { type AttemptOutcome, RouteFailure, type RouteTarget, route } from './llm-router.ts';
import { estimateInputTokens } from './llm-tokens.ts';
import type { UsageRecorder } from './llm-usage-recorder.ts';

/**
 * Image generation calls (docs/images.md "Image generation columns"): the same path as a text
 * call — the registry's connection, the router's one retry loop, limiter, breaker and timeouts,
 * a budget reservation before each attempt and its settlement after, a usage row per attempt —
 * through the adapter's `generateImages` instead of a completion. Not cached: "regenerate"
 * must be able to draw again, and an image is stored by its content anyway.
 */
export interface ImageCallRequest {
  /** When given, the actor must be an editor of the project. Jobs pass `userId` instead. */
  actor?: Actor | undefined;
  projectId: string;
  userId?: string | undefined;
  /** `sheet-image`, … (usage rows, metrics). */
  feature: string;
  entityIds?: Record<string, string> | undefined;
  provider?: string | undefined;
  model: string;
  prompt: string;
  /** `WIDTHxHEIGHT`; undefined: the provider's default. */
  size?: string | undefined;
  /** Image-to-image: the images the prompt transforms (the provider's edit endpoint). */
  images?: readonly ProviderImageInput[] | undefined;
  signal?: AbortSignal | undefined;
}

export interface ImageCallResult {
  callId: string;
  /** The first image of the answer, as received (the caller checks it). */
  image: Buffer;
  revisedPrompt: string | undefined;
  provider: string;
  providerKind: string;
  model: string;
  usage: ProviderImageResult['usage'];
  /** Known costs of every attempt, nano-USD; null when the answering attempt's is unknown. */
  costNano: number | null;
  attempts: number;
  latencyMs: number;
  requestId: string | undefined;
  warnings: string[];
}

/** Longest prompt sent (OpenAI's limit for gpt-image-1; DALL·E 3 takes 4,000). */
export const MAX_IMAGE_PROMPT = 32_000;

/**
 * Output tokens one image may bill, for the reservation: gpt-image-1 at high quality and its
 * largest size is 6,240 (OpenAI's image-generation guide). A model priced per image rather
 * than per token has no catalog price here, so it reserves nothing, like any unpriced model.
 */
export const IMAGE_OUTPUT_TOKENS_BOUND = 6_240;

/** Image models take longer than a chat answer: a minute and more is common. */
const IMAGE_TIMEOUTS = { firstChunkMs: 180_000, idleMs: 180_000, totalMs: 300_000 };

export function createLlmImageService(deps: {
  config: LlmConfig;
  logger: Logger;
  clock: Clock;
  access: ProjectAccess;
  registry: ProviderRegistry;
  budgets: BudgetGuard;
  prices: PriceStore;
  recorder: UsageRecorder;
  metrics?: LlmMetrics | undefined;
}) {
  const { config, logger, clock, access, registry, budgets, prices, recorder, metrics } = deps;
  const pending = new Set<Promise<unknown>>();

  const priceSource = (
    target: RouteTarget,
    overrides: Awaited<ReturnType<PriceStore['list']>>,
    at: Date,
  ): PriceSource => {
    const connection = (target as Partial<ResolvedTarget>).connection;
    return {
      catalogProviderId: connection
        ? connection.catalogProvider
        : defaultCatalogProvider(target.kind),
      override: overrideAt(overrides, target.model, at)?.rates,
      at,
    };
  };

  /** The target's provider seen through the port the router speaks: an image as a "finish". */
  const asImageTarget = (target: ResolvedTarget, request: ImageCallRequest): RouteTarget => {
    const images = target.provider.generateImages?.bind(target.provider);
    const provider: LlmProvider = {
      kind: target.kind,
      listModels: target.provider.listModels.bind(target.provider),
      // biome-ignore lint/correctness/useYield: never streamed (route is called with stream: false)
      async *stream() {
        throw new ProviderFailure('bad-request', 'image generation is not streamed');
      },
      async generate(providerRequest): Promise<ProviderGenerateResult> {
        if (!images)
          throw new ProviderFailure(
            'bad-request',
            `The ${target.connection.name} connection cannot generate images`,
          );
        const result = await images({
          model: providerRequest.model,
          prompt: request.prompt,
          size: request.size,
          images: request.images,
          signal: providerRequest.signal,
        });
        return {
          text: '',
          usage: result.usage,
          finishReason: 'stop',
          requestId: result.requestId,
          responseModel: undefined,
          output: result,
          warnings: result.warnings,
          rawUsage: result.rawUsage,
        };
      },
    };
    return { ...target, provider };
  };

  async function generateImage(request: ImageCallRequest): Promise<ImageCallResult> {
    if (request.prompt.trim() === '' || request.prompt.length > MAX_IMAGE_PROMPT)
      throw validationError(`The image prompt must be 1 to ${MAX_IMAGE_PROMPT} characters`, [
        { path: 'prompt', message: `1 to ${MAX_IMAGE_PROMPT} characters` },
      ]);
    if (request.size !== undefined && !/^\d{2,5}x\d{2,5}$/.test(request.size))
      throw validationError('The image size must read WIDTHxHEIGHT', [
        { path: 'size', message: 'WIDTHxHEIGHT' },
      ]);
    if (request.actor) await access.requireRole(request.actor, request.projectId, 'editor');
    const startedAt = clock.now();
    const callId = uuidv7(startedAt);
    const userId = request.userId ?? request.actor?.userId;
    const entityIds = request.entityIds ?? {};
    // No fallback chain: a provider's fallbacks are text models.
    const [targets, overrides, applicable] = await Promise.all([
      registry.targets(request.projectId, request.provider, request.model, []),
      prices.list(request.projectId),
      budgets.budgetsFor(request.projectId, userId),
    ]);
    const messages = [{ role: 'user' as const, content: request.prompt }];
    const timeouts = {
      ...config.timeouts,
      ...IMAGE_TIMEOUTS,
      ...config.featureTimeouts[request.feature],
    };
    const records: Promise<number | null>[] = [];
    let totalCostNano = 0;
    const warnings: string[] = [];

    const record = async (outcome: AttemptOutcome, reservation: Reservation | undefined) => {
      const { target } = outcome.info;
      const at = new Date(outcome.info.startedAt);
      const failure = outcome.failure;
      const usage = outcome.finish?.usage ?? UNKNOWN_USAGE;
      // Billed only when an image came back; a refusal or an empty answer is not (OpenAI
      // charges generated images).
      const cost = outcome.finish
        ? costNano(usage, target.model, priceSource(target, overrides, at))
        : 0;
      if (cost !== null) totalCostNano += cost;
      await recorder.add({
        id: uuidv7(),
        callId,
        createdAt: at,
        projectId: request.projectId,
        userId,
        feature: request.feature,
        entityIds,
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
        cacheStatus: 'off',
        usage,
        usageEstimated: false,
        costNano: cost,
        savedNano: null,
        latencyMs: outcome.latencyMs,
        ttftMs: undefined,
      });
      if (metrics) {
        const labels = { provider: target.kind, model: target.model, feature: request.feature };
        metrics.attempts.inc({ ...labels, status: outcome.status });
        if (failure && outcome.status !== 'aborted')
          metrics.errors.inc({ ...labels, code: errorCodeFor(failure.kind) });
        countTokens(metrics, labels, usage);
        if (cost === null) metrics.unpriced.inc(labels);
        else if (cost > 0) metrics.costNano.inc(labels, cost);
      }
      if (reservation) await budgets.settle(reservation, cost ?? reservation.estimateNano);
      return cost;
    };

    try {
      const events = route<Reservation | undefined>(
        { messages, parameters: {}, outputSchema: undefined, stream: false },
        targets.map((target) => asImageTarget(target, request)),
        {
          policy: {
            maxAttempts: config.maxAttempts,
            backoff: {
              baseMs: config.retryBaseMs,
              capMs: config.retryMaxMs,
              maxRetryAfterMs: config.maxRetryAfterMs,
            },
          },
          timeouts,
          signal: request.signal,
          clock,
          hooks: {
            beforeAttempt: async (info) => {
              if (applicable.length === 0) return undefined;
              const at = new Date(info.startedAt);
              const estimate = maxCostNano(
                await estimateInputTokens(messages, undefined),
                IMAGE_OUTPUT_TOKENS_BOUND,
                info.target.model,
                priceSource(info.target, overrides, at),
              );
              if (estimate === null) return undefined;
              const reserved = await budgets.reserve({
                reservationId: uuidv7(),
                budgets: applicable,
                estimateNano: estimate,
                expiresInMs: timeouts.totalMs + 300_000,
              });
              for (const warning of reserved.warnings)
                if (!warnings.includes(warning)) warnings.push(warning);
              return reserved.reservation;
            },
            afterAttempt: (outcome, reservation) => {
              const work = record(outcome, reservation);
              const tracked = work.catch((error: unknown) => {
                logger.error({ err: error }, 'llm image usage failed');
              });
              pending.add(tracked);
              void tracked.finally(() => pending.delete(tracked));
              records.push(work.catch(() => null));
            },
          },
        },
      );
      for await (const event of events) {
        if (event.type !== 'finish') continue;
        const result = event.finish.output as ProviderImageResult;
        const costs = await Promise.all(records);
        const target = event.outcome.info.target;
        return {
          callId,
          image: result.images[0] as Buffer,
          revisedPrompt: result.revisedPrompt,
          provider: target.providerRef,
          providerKind: target.kind,
          model: target.model,
          usage: result.usage,
          costNano: costs.at(-1) === null ? null : totalCostNano,
          attempts: event.outcome.info.attempt,
          latencyMs: clock.now() - startedAt,
          requestId: result.requestId,
          warnings: [...warnings, ...result.warnings],
        };
      }
      throw new AppError('PROVIDER_UNAVAILABLE', 'The image call ended without an answer');
    } catch (error) {
      if (error instanceof RouteFailure) {
        await Promise.all(records); // usage rows are written before the answer
        logger.info(
          {
            callId,
            projectId: request.projectId,
            feature: request.feature,
            model: error.target?.model,
            attempts: error.attempts,
            reason: error.failure.kind,
            httpStatus: error.failure.status,
          },
          'llm image call failed',
        );
        throw callError(error.failure, {
          callId,
          provider: error.target?.providerRef,
          providerName: (error.target as Partial<ResolvedTarget> | undefined)?.connection?.name,
          model: error.target?.model,
          attempts: error.attempts,
        });
      }
      throw error;
    }
  }

  return {
    generateImage,
    /** Waits for usage rows and settlements still in flight. */
    async flush(): Promise<void> {
      while (pending.size > 0) await Promise.all([...pending]);
      await recorder.flush();
    },
  };
}

export type LlmImageService = ReturnType<typeof createLlmImageService>;
