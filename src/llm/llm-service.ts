import { createCallKit, type LlmServiceDeps } from './llm-call-context.ts';
import { runCall } from './llm-call-run.ts';
import type { LlmCallRequest, LlmCallResult, ProviderConcurrency } from './llm-call-types.ts';
import { type ProbeRequest, probeConnection } from './llm-probe.ts';
import type { ResolvedTarget } from './llm-provider-registry.ts';
import { LlmStream } from './llm-stream.ts';

// The service's parts, each in a file named for its purpose: the call's types
// (llm-call-types.ts), the shared kit and a call's context (llm-call-context.ts), one call
// (llm-call-run.ts), an attempt's budget and usage (llm-call-attempts.ts), its price
// (llm-call-pricing.ts), a cache hit (llm-cache-replay.ts), the connection test
// (llm-probe.ts), errors (llm-call-errors.ts) and the stream object (llm-stream.ts).
export { FEATURE_TIMEOUTS, type LlmServiceDeps } from './llm-call-context.ts';
export { callError, errorCodeFor } from './llm-call-errors.ts';
export type {
  LlmCallRequest,
  LlmCallResult,
  LlmStreamEvent,
  ProviderConcurrency,
} from './llm-call-types.ts';
export { type ProbeRequest, type ProbeResult, TEST_CONNECTION_FEATURE } from './llm-probe.ts';
export { LlmStream } from './llm-stream.ts';

/**
 * The one entry point for LLM calls. Every feature (sheet cells, chat, summaries, search
 * queries, the gateway) calls `llm.stream(...)` or `llm.generate(...)`; nothing else talks
 * to a provider.
 */
export function createLlmService(deps: LlmServiceDeps) {
  const kit = createCallKit(deps);
  const { registry, clock, recorder, cache } = deps;

  return {
    /** Streams a call: deltas, then `finish` with usage, cost, attempts and cache status. */
    stream(request: LlmCallRequest): LlmStream {
      return new LlmStream(runCall(kit, request, true));
    },

    /** A non-streaming call (one upstream response); same retries, budgets, cache and usage. */
    async generate(request: LlmCallRequest): Promise<LlmCallResult> {
      let result: LlmCallResult | undefined;
      for await (const event of runCall(kit, request, false)) {
        if (event.type === 'finish') result = event.result;
      }
      return result as LlmCallResult;
    },

    /** Waits for usage rows, settlements and cache writes still in flight, then writes usage. */
    async flush(): Promise<void> {
      while (kit.pending.size > 0) await Promise.all([...kit.pending]);
      await Promise.all([recorder.flush(), cache.flush()]);
    },

    probe: (request: ProbeRequest) => probeConnection(kit, request),

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

    invalidatePrices: kit.invalidatePrices,
  };
}

export type LlmService = ReturnType<typeof createLlmService>;
