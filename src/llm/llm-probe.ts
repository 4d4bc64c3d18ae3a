import { uuidv7 } from '../platform/ids.ts';
import { CircuitBreaker } from './llm-breaker.ts';
import { attemptHooks } from './llm-call-attempts.ts';
import {
  type AttemptContext,
  type CallKit,
  callContext,
  traceFailure,
  traceFinish,
} from './llm-call-context.ts';
import { AdaptiveLimiter } from './llm-limiter.ts';
import { type LlmParameters, ProviderFailure, type TokenUsage } from './llm-provider.ts';
import type { ResolvedTarget } from './llm-provider-registry.ts';
import { RouteFailure, route, type Timeouts } from './llm-router.ts';

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

/**
 * "Test connection": one request to a resolved connection and model, with no retry and
 * outside the connection's breaker and limiter (a test must reach the provider even while
 * its circuit is open) and the cache. Budgeted, priced, recorded as a usage row (feature
 * `test-connection`) and traced like any call. Throws the request's ProviderFailure, or an
 * AppError (BUDGET_EXCEEDED) when no request was sent.
 */
export async function probeConnection(kit: CallKit, request: ProbeRequest): Promise<ProbeResult> {
  const { config, clock, budgets } = kit;
  const { projectId, userId } = request;
  const startedAt = clock.now();
  const callId = uuidv7(startedAt);
  const parameters: LlmParameters = { maxOutputTokens: 1 };
  const [overrides, applicable] =
    projectId === undefined
      ? [[], []]
      : await Promise.all([kit.overridesFor(projectId), budgets.budgetsFor(projectId, userId)]);
  const target = {
    ...request.target,
    limiter: new AdaptiveLimiter({ maxConcurrency: 1, requestsPerMinute: undefined }, clock),
    breaker: new CircuitBreaker(
      { failureThreshold: 1, openMs: config.breakerOpenMs, maxOpenMs: config.breakerOpenMs },
      clock,
    ),
  };
  const context = callContext(
    kit.telemetry,
    {
      callId,
      projectId,
      userId,
      feature: TEST_CONNECTION_FEATURE,
      entityIds: {},
      cacheStatus: 'off',
      usageDurability: 'database',
      batched: false,
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
        policy: { ...kit.policy, maxAttempts: 1 },
        timeouts,
        signal: undefined,
        clock,
        hooks: attemptHooks(kit, context, applicable, parameters, timeouts),
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
    await Promise.allSettled(context.records); // usage rows are written before the answer
    throw error instanceof RouteFailure ? error.failure : error;
  } finally {
    context.trace?.close(context.records, () => context.totalCostNano);
  }
}
