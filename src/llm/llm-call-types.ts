import type { Actor } from '../access/actor.ts';
import type {
  FailureKind,
  FinishReason,
  JsonSchema,
  LlmMessage,
  LlmParameters,
  LlmToolCallPart,
  LlmToolChoice,
  LlmToolDefinition,
  TokenUsage,
} from './llm-provider.ts';
import type { FallbackTarget } from './llm-provider-store.ts';
import type { Timeouts } from './llm-router.ts';
import type { UsageDurability } from './llm-usage-recorder.ts';

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
  /**
   * When the call's usage rows are safe relative to its answer: `database` committed before
   * it; `outbox` appended to the data dir's usage outbox before it and committed with the next
   * batch, which a crash cannot lose either (embedded PGlite only; elsewhere the same as
   * `database`). Default: `outbox`, except for `chat`, whose rows chat reads straight from the
   * tables (`defaultDurability`). Budget reservations are settled before the answer either way.
   */
  usageDurability?: UsageDurability | undefined;
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

/** What `llm.concurrency()` reports of a provider+model now. */
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
