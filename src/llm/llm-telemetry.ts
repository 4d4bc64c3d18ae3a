import type { Telemetry, TelemetryAttributes, TelemetrySpan } from '../platform/telemetry.ts';
import type { FinishReason, LlmParameters, ProviderKind, TokenUsage } from './llm-provider.ts';
import type { AttemptOutcome } from './llm-router.ts';

/**
 * OpenTelemetry spans of LLM calls, after the GenAI semantic conventions
 * (https://opentelemetry.io/docs/specs/semconv/gen-ai/gen-ai-spans/): one CLIENT span per
 * logical call named `chat {model}`, one span event per attempt (docs/decisions/
 * 2026-11-22-llm-telemetry-attempt-events.md). Prompt and completion text and keys are never
 * put on a span.
 *
 * The attribute names are spelled here rather than taken from
 * `@opentelemetry/semantic-conventions`, whose GenAI constants are marked deprecated there
 * since the conventions moved to their own repository; the names themselves are unchanged.
 */
export const ATTR = {
  operationName: 'gen_ai.operation.name',
  providerName: 'gen_ai.provider.name',
  /** The older name of gen_ai.provider.name, for backends that still read it. */
  system: 'gen_ai.system',
  requestModel: 'gen_ai.request.model',
  requestMaxTokens: 'gen_ai.request.max_tokens',
  requestTemperature: 'gen_ai.request.temperature',
  requestTopP: 'gen_ai.request.top_p',
  requestTopK: 'gen_ai.request.top_k',
  requestSeed: 'gen_ai.request.seed',
  requestPresencePenalty: 'gen_ai.request.presence_penalty',
  requestFrequencyPenalty: 'gen_ai.request.frequency_penalty',
  requestStream: 'gen_ai.request.stream',
  responseModel: 'gen_ai.response.model',
  responseId: 'gen_ai.response.id',
  responseFinishReasons: 'gen_ai.response.finish_reasons',
  responseTimeToFirstChunk: 'gen_ai.response.time_to_first_chunk',
  usageInputTokens: 'gen_ai.usage.input_tokens',
  usageOutputTokens: 'gen_ai.usage.output_tokens',
  usageCacheReadInputTokens: 'gen_ai.usage.cache_read.input_tokens',
  usageCacheCreationInputTokens: 'gen_ai.usage.cache_creation.input_tokens',
  usageReasoningOutputTokens: 'gen_ai.usage.reasoning.output_tokens',
  httpStatus: 'http.response.status_code',
  feature: 'braincells.feature',
  projectId: 'braincells.project_id',
  callId: 'braincells.call_id',
  providerRef: 'braincells.provider_ref',
  costNano: 'braincells.cost_nano_usd',
  cacheHit: 'braincells.cache_hit',
  attempts: 'braincells.attempts',
  aborted: 'braincells.aborted',
  errorCode: 'braincells.error_code',
  attempt: 'braincells.attempt',
  attemptStatus: 'braincells.attempt.status',
  attemptLatencyMs: 'braincells.attempt.latency_ms',
  attemptErrorType: 'braincells.attempt.error_type',
  usageEstimated: 'braincells.usage_estimated',
} as const;

/** The span event each attempt adds to its call's span. */
export const ATTEMPT_EVENT = 'braincells.llm.attempt';

/** `gen_ai.provider.name`: the convention's well-known values where one applies. */
export const PROVIDER_NAME: Record<ProviderKind, string> = {
  openai: 'openai',
  anthropic: 'anthropic',
  huggingface: 'huggingface',
  'openai-compatible': 'openai_compatible',
};

/** `gen_ai.response.finish_reasons` values (the convention follows OpenAI's spelling). */
const FINISH_REASON: Record<FinishReason, string> = {
  stop: 'stop',
  length: 'length',
  'content-filter': 'content_filter',
  'tool-calls': 'tool_call',
  error: 'error',
  other: 'other',
  unknown: 'unknown',
};

export interface CallSpanStart {
  callId: string;
  projectId: string | undefined;
  feature: string;
  kind: ProviderKind;
  providerRef: string;
  model: string;
  parameters: LlmParameters;
  streaming: boolean;
}

/** The request parameters the convention names, and which of ours each one reports. */
const PARAMETER_ATTRIBUTES: [string, keyof LlmParameters][] = [
  [ATTR.requestMaxTokens, 'maxOutputTokens'],
  [ATTR.requestTemperature, 'temperature'],
  [ATTR.requestTopP, 'topP'],
  [ATTR.requestTopK, 'topK'],
  [ATTR.requestSeed, 'seed'],
  [ATTR.requestPresencePenalty, 'presencePenalty'],
  [ATTR.requestFrequencyPenalty, 'frequencyPenalty'],
];

/** Name and starting attributes of a call's span. */
export function callSpanStart(start: CallSpanStart): {
  name: string;
  attributes: TelemetryAttributes;
} {
  const provider = PROVIDER_NAME[start.kind];
  return {
    name: `chat ${start.model}`,
    attributes: {
      [ATTR.operationName]: 'chat',
      [ATTR.providerName]: provider,
      [ATTR.system]: provider,
      [ATTR.requestModel]: start.model,
      ...Object.fromEntries(
        PARAMETER_ATTRIBUTES.map(([name, parameter]) => [name, start.parameters[parameter]]),
      ),
      [ATTR.requestStream]: start.streaming,
      [ATTR.feature]: start.feature,
      [ATTR.projectId]: start.projectId,
      [ATTR.callId]: start.callId,
      [ATTR.providerRef]: start.providerRef,
    },
  };
}

/**
 * Token counts as the convention counts them: input includes cached tokens (our buckets are
 * disjoint, so they are summed), output includes reasoning. Unknown counts are left out.
 */
export function usageAttributes(usage: TokenUsage): TelemetryAttributes {
  const input =
    usage.uncachedInputTokens === undefined
      ? undefined
      : usage.uncachedInputTokens + (usage.cacheReadTokens ?? 0) + (usage.cacheWriteTokens ?? 0);
  return {
    [ATTR.usageInputTokens]: input,
    [ATTR.usageOutputTokens]: usage.outputTokens,
    [ATTR.usageCacheReadInputTokens]: usage.cacheReadTokens,
    [ATTR.usageCacheCreationInputTokens]: usage.cacheWriteTokens,
    [ATTR.usageReasoningOutputTokens]: usage.reasoningTokens,
  };
}

/** Attributes of one attempt's span event. */
export function attemptAttributes(
  outcome: AttemptOutcome,
  usage: TokenUsage,
  estimated: boolean,
  costNano: number | null,
): TelemetryAttributes {
  const { target, attempt } = outcome.info;
  const failure = outcome.failure;
  return {
    [ATTR.attempt]: attempt,
    [ATTR.attemptStatus]: outcome.status,
    [ATTR.providerName]: PROVIDER_NAME[target.kind],
    [ATTR.providerRef]: target.providerRef,
    [ATTR.requestModel]: target.model,
    [ATTR.responseModel]: outcome.finish?.responseModel,
    [ATTR.responseId]: outcome.finish?.responseId,
    [ATTR.attemptErrorType]: failure?.kind,
    [ATTR.httpStatus]: failure?.status,
    [ATTR.attemptLatencyMs]: Math.round(outcome.latencyMs),
    ...usageAttributes(usage),
    [ATTR.usageEstimated]: estimated || undefined,
    [ATTR.costNano]: costNano ?? undefined,
  };
}

/** What a finished call reports on its span. */
export interface CallSpanResult {
  kind: ProviderKind;
  providerRef: string;
  /** The name the provider answered with, else the model of the answering target. */
  responseModel: string;
  responseId: string | undefined;
  finishReason: FinishReason;
  usage: TokenUsage;
  costNano: number | null;
  attempts: number;
  cacheHit: boolean;
  timeToFirstTokenMs: number | undefined;
}

export function resultAttributes(result: CallSpanResult): TelemetryAttributes {
  const provider = PROVIDER_NAME[result.kind];
  return {
    // A fallback to another provider answered: the span names who did.
    [ATTR.providerName]: provider,
    [ATTR.system]: provider,
    [ATTR.providerRef]: result.providerRef,
    [ATTR.responseModel]: result.responseModel,
    [ATTR.responseId]: result.responseId,
    [ATTR.responseFinishReasons]: [FINISH_REASON[result.finishReason]],
    [ATTR.responseTimeToFirstChunk]:
      result.timeToFirstTokenMs === undefined ? undefined : result.timeToFirstTokenMs / 1000,
    ...usageAttributes(result.usage),
    [ATTR.costNano]: result.costNano ?? undefined,
    [ATTR.cacheHit]: result.cacheHit,
    [ATTR.attempts]: result.attempts,
  };
}

/**
 * The span of one call. Attempt events arrive from the usage path (after pricing); the span
 * ends once every attempt of the call has been recorded, at the moment the call ended.
 */
export class CallTrace {
  readonly #span: TelemetrySpan;
  #ended = false;
  #outcome: 'finished' | 'failed' | undefined;

  constructor(telemetry: Telemetry, start: CallSpanStart) {
    const { name, attributes } = callSpanStart(start);
    this.#span = telemetry.startSpan(name, { kind: 'client', attributes });
  }

  attempt(
    outcome: AttemptOutcome,
    usage: TokenUsage,
    estimated: boolean,
    costNano: number | null,
  ): void {
    if (this.#ended) return;
    this.#span.addEvent(
      ATTEMPT_EVENT,
      attemptAttributes(outcome, usage, estimated, costNano),
      outcome.info.startedAt,
    );
  }

  finish(result: CallSpanResult): void {
    this.#outcome = 'finished';
    this.#span.setAttributes(resultAttributes(result));
  }

  /** The call failed: `errorType` is the failure kind (`timeout`, `rate-limited`, …) or code. */
  fail(errorType: string, message: string, code: string, attempts: number | undefined): void {
    this.#outcome = 'failed';
    this.#span.setAttributes({ [ATTR.errorCode]: code, [ATTR.attempts]: attempts });
    this.#span.setError(errorType, message);
  }

  /**
   * Ends the span when the attempts' usage is recorded. A call that neither finished nor
   * failed was cancelled (the caller aborted or stopped reading): not an error.
   */
  close(records: readonly Promise<unknown>[], totalCostNano: () => number): void {
    const endedAt = Date.now();
    const end = () => {
      if (this.#ended) return;
      if (this.#outcome === undefined) this.#span.setAttributes({ [ATTR.aborted]: true });
      if (this.#outcome !== 'finished') {
        this.#span.setAttributes({ [ATTR.costNano]: totalCostNano() });
      }
      this.#ended = true;
      this.#span.end(endedAt);
    };
    if (records.length === 0) end();
    else void Promise.allSettled(records).then(end);
  }
}
