import { validationError } from '../platform/app-error.ts';
import { uuidv7 } from '../platform/ids.ts';
import { cacheKey } from './llm-cache.ts';
import { replayCached } from './llm-cache-replay.ts';
import { attemptHooks } from './llm-call-attempts.ts';
import {
  type AttemptContext,
  BATCHED_FEATURES,
  type CallContext,
  type CallKit,
  callContext,
  timeoutsFor,
  traceFailure,
  traceFinish,
} from './llm-call-context.ts';
import { callError } from './llm-call-errors.ts';
import type { LlmCallRequest, LlmCallResult, LlmStreamEvent } from './llm-call-types.ts';
import type { FinishReason, LlmParameters, ProviderFinish } from './llm-provider.ts';
import type { ResolvedTarget } from './llm-provider-registry.ts';
import { type AttemptOutcome, RouteFailure, type RouteTarget, route } from './llm-router.ts';
import { callSchema } from './llm-schema.ts';
import { defaultDurability } from './llm-usage-recorder.ts';

// A tool-call answer is cacheable too: the key covers the tool set and the choice.
const CACHEABLE: ReadonlySet<FinishReason> = new Set(['stop', 'length', 'tool-calls']);

/** The request as the schema accepts it (actor and signal are not data); 400 naming the field. */
function parseCall(request: LlmCallRequest) {
  const parsed = callSchema.safeParse({ ...request, actor: undefined, signal: undefined });
  if (!parsed.success) {
    const issues = parsed.error.issues.map((issue) => ({
      path: issue.path.join('.'),
      message: issue.message,
    }));
    throw validationError(`Invalid LLM call: ${issues[0]?.path} ${issues[0]?.message}`, issues);
  }
  return parsed.data;
}

/**
 * One call, streamed or not: access check, targets (with fallbacks), price overrides and
 * budgets; the cache when the request allows it; then the router's attempts, each reserved
 * against the budgets before and recorded after (llm-call-attempts.ts); the answer is cached
 * and returned as `finish`. A failure after every attempt is thrown as an AppError.
 */
export async function* runCall(
  kit: CallKit,
  request: LlmCallRequest,
  streaming: boolean,
): AsyncGenerator<LlmStreamEvent, void, undefined> {
  const { config, clock, access, registry, budgets, cache, metrics } = kit;
  const { actor, signal } = request;
  const input = parseCall(request);
  if (actor) await access.requireRole(actor, input.projectId, 'editor');
  const startedAt = clock.now();
  const callId = uuidv7(startedAt);
  const userId = input.userId ?? actor?.userId;
  const parameters: LlmParameters = {
    ...input.parameters,
    maxOutputTokens: input.parameters?.maxOutputTokens ?? config.defaultMaxOutputTokens,
  };
  const messages = input.messages as CallContext['messages'];
  const outputSchema = input.outputSchema as CallContext['outputSchema'];
  const tools = input.tools as CallContext['tools'];
  const toolChoice = input.toolChoice;
  const cacheMode = input.cache ?? 'use';

  const [targets, overrides, applicable] = await Promise.all([
    registry.targets(input.projectId, input.provider, input.model, input.fallbacks),
    kit.overridesFor(input.projectId),
    budgets.budgetsFor(input.projectId, userId, input.gatewayKeyId),
  ]);
  const primary = targets[0] as RouteTarget;
  const context = callContext(
    kit.telemetry,
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
      usageDurability: input.usageDurability ?? defaultDurability(input.feature),
      batched: BATCHED_FEATURES.has(input.feature),
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
      const hit = await cache.get(input.projectId, key, context.batched);
      metrics?.cache.inc({ feature: input.feature, result: hit ? 'hit' : 'miss' });
      if (hit) {
        yield* replayCached(kit, hit, context, startedAt);
        return;
      }
    }

    const timeouts = timeoutsFor(config, input.feature, input.timeouts);
    const events = route<AttemptContext>(
      { messages, parameters, outputSchema, tools, toolChoice, stream: streaming },
      targets,
      {
        policy: kit.policy,
        timeouts,
        signal,
        clock,
        hooks: attemptHooks(kit, context, applicable, parameters, timeouts),
      },
    );

    for await (const event of events) {
      if (event.type !== 'finish') {
        yield event;
        continue;
      }
      const { result, answerCostNano } = await answered(kit, context, event, {
        startedAt,
        streaming,
      });
      if (key !== undefined && CACHEABLE.has(result.finishReason)) {
        cache.put(input.projectId, key, {
          text: result.text,
          output: result.output,
          ...(result.toolCalls.length > 0 ? { toolCalls: result.toolCalls } : {}),
          finishReason: result.finishReason,
          providerRef: result.provider,
          providerKind: result.providerKind,
          model: result.model,
          usage: result.usage,
          costNano: answerCostNano,
        });
      }
      yield { type: 'finish', result };
    }
  } catch (error) {
    traceFailure(context, error, signal);
    if (error instanceof RouteFailure) {
      await Promise.allSettled(context.records); // usage rows are written before the answer
      throw failed(kit, context, error);
    }
    throw error;
  } finally {
    context.trace?.close(context.records, () => context.totalCostNano);
  }
}

/**
 * The result of an answered call, once every attempt's usage is priced (so it reports the
 * call's whole cost); traced and logged. `answerCostNano` is the answering attempt's own cost,
 * which a cache entry keeps.
 */
async function answered(
  kit: CallKit,
  context: CallContext,
  event: { text: string; finish: ProviderFinish; outcome: AttemptOutcome },
  call: { startedAt: number; streaming: boolean },
) {
  const { finish, outcome } = event;
  const target = outcome.info.target;
  const costs = await Promise.all(context.records);
  const cost = costs.at(-1) ?? null;
  const result: LlmCallResult = {
    callId: context.callId,
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
    latencyMs: kit.clock.now() - call.startedAt,
    timeToFirstTokenMs:
      outcome.timeToFirstTokenMs === undefined
        ? undefined
        : outcome.info.startedAt - call.startedAt + outcome.timeToFirstTokenMs,
    requestId: finish.requestId,
    warnings: [...context.warnings, ...finish.warnings],
  };
  traceFinish(context, target, finish, {
    costNano: result.costNano,
    attempts: result.attempts,
    timeToFirstTokenMs: call.streaming ? result.timeToFirstTokenMs : undefined,
  });
  kit.logger.debug(
    {
      callId: context.callId,
      projectId: context.projectId,
      feature: context.feature,
      provider: result.provider,
      model: result.model,
      attempts: result.attempts,
      costNano: result.costNano,
      latencyMs: result.latencyMs,
    },
    'llm call finished',
  );
  return { result, answerCostNano: cost };
}

/** The AppError of a call that failed after every attempt (logged at info: the caller decides). */
function failed(kit: CallKit, context: CallContext, error: RouteFailure) {
  const failure = error.failure;
  kit.logger.info(
    {
      callId: context.callId,
      projectId: context.projectId,
      feature: context.feature,
      provider: error.target?.providerRef,
      model: error.target?.model,
      attempts: error.attempts,
      reason: failure.kind,
      httpStatus: failure.status,
    },
    'llm call failed',
  );
  return callError(failure, {
    callId: context.callId,
    provider: error.target?.providerRef,
    // The connection's name, so a cell or a run can say who answered what.
    providerName: (error.target as Partial<ResolvedTarget> | undefined)?.connection?.name,
    model: error.target?.model,
    attempts: error.attempts,
  });
}
