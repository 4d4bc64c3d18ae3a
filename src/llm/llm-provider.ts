/**
 * The port every LLM provider adapter implements. No dependencies: the router, the usage
 * recorder and the tests speak these types; only adapters (llm-sdk-provider.ts) know a vendor.
 *
 * Conventions (after vercel/ai's provider spec): a token count the provider did not report is
 * `undefined`, never 0; vendor values are mapped in small pure functions inside the adapter;
 * an unsupported setting becomes a warning, not a crash.
 */

import type { ImageGenerator } from './llm-image-provider.ts';

export const PROVIDER_KINDS = ['openai', 'anthropic', 'huggingface', 'openai-compatible'] as const;
export type ProviderKind = (typeof PROVIDER_KINDS)[number];

export interface LlmTextPart {
  type: 'text';
  text: string;
}

export interface LlmImagePart {
  type: 'image';
  /** An https: or data: URL. */
  url: string;
  mediaType?: string;
}

export type LlmContentPart = LlmTextPart | LlmImagePart;

/** A call of one of the request's tools, as the model made it (`input` parsed from its JSON). */
export interface LlmToolCallPart {
  type: 'tool-call';
  toolCallId: string;
  toolName: string;
  input: unknown;
}

/** The reasoning a model showed before answering (kept so a thread can send it back). */
export interface LlmReasoningPart {
  type: 'reasoning';
  text: string;
}

/** What running a tool gave back, answering the call with the same id. */
export interface LlmToolResultPart {
  type: 'tool-result';
  toolCallId: string;
  toolName: string;
  /** JSON output; `isError` marks a failed tool run the model should know about. */
  output: unknown;
  isError?: boolean;
}

export type LlmAssistantPart = LlmTextPart | LlmReasoningPart | LlmToolCallPart;

export type LlmMessage =
  | { role: 'system'; content: string }
  | { role: 'user'; content: string | LlmContentPart[] }
  | { role: 'assistant'; content: string | LlmAssistantPart[] }
  | { role: 'tool'; content: LlmToolResultPart[] };

/**
 * A tool the model may call. The model only asks for calls: running a tool and sending its
 * result back (a `tool` message) is the caller's loop, so a tool never runs inside an attempt
 * the router may retry.
 */
export interface LlmToolDefinition {
  /** Letters, digits, `_` and `-` (what every provider accepts), at most 64. */
  name: string;
  description?: string;
  /** A JSON Schema of an object: the tool's input. */
  inputSchema: JsonSchema;
}

/** `auto`: the model decides; `required`: some tool; `none`: no tool; or this one tool. */
export type LlmToolChoice = 'auto' | 'required' | 'none' | { toolName: string };

/** Generation settings; every field optional. `maxOutputTokens` is always set by the router. */
export interface LlmParameters {
  maxOutputTokens?: number;
  temperature?: number;
  topP?: number;
  topK?: number;
  presencePenalty?: number;
  frequencyPenalty?: number;
  stopSequences?: string[];
  seed?: number;
  /** Reasoning effort for models that think; ignored (with a warning) by others. */
  reasoningEffort?: 'none' | 'minimal' | 'low' | 'medium' | 'high';
}

/** A JSON Schema (draft-07 / 2020-12) for structured output. */
export type JsonSchema = Record<string, unknown>;

export interface ProviderCallRequest {
  model: string;
  messages: readonly LlmMessage[];
  parameters: LlmParameters;
  /** When set, the model is asked for JSON matching it, and `output` carries the parsed value. */
  outputSchema: JsonSchema | undefined;
  /** Tools the model may call; their calls come back as `tool-call` events (and `toolCalls`). */
  tools?: readonly LlmToolDefinition[] | undefined;
  toolChoice?: LlmToolChoice | undefined;
  /** Aborting it must close the upstream HTTP request. */
  signal: AbortSignal;
}

/**
 * Token buckets of one provider response. `outputTokens` includes `reasoningTokens` (both are
 * billed as output); input is split into disjoint buckets: uncached + cache read + cache write.
 */
export interface TokenUsage {
  uncachedInputTokens: number | undefined;
  cacheReadTokens: number | undefined;
  cacheWriteTokens: number | undefined;
  outputTokens: number | undefined;
  reasoningTokens: number | undefined;
}

export const UNKNOWN_USAGE: Readonly<TokenUsage> = Object.freeze({
  uncachedInputTokens: undefined,
  cacheReadTokens: undefined,
  cacheWriteTokens: undefined,
  outputTokens: undefined,
  reasoningTokens: undefined,
});

export type FinishReason =
  | 'stop'
  | 'length'
  | 'content-filter'
  | 'tool-calls'
  | 'error'
  | 'other'
  | 'unknown';

export interface ProviderFinish {
  type: 'finish';
  usage: TokenUsage;
  finishReason: FinishReason;
  /** The provider's own request id (x-request-id / request-id), for support tickets. */
  requestId: string | undefined;
  /** The model the provider says answered (may be a dated snapshot of the requested one). */
  responseModel: string | undefined;
  /** The provider's id of this completion (`chatcmpl-…`, `msg_…`), when it sends one. */
  responseId?: string | undefined;
  /** Parsed structured output when `outputSchema` was given. */
  output: unknown;
  /** The tool calls of the answer, in order (empty when it made none). */
  toolCalls?: LlmToolCallPart[];
  /** Settings the provider ignored or changed, as human-readable lines. */
  warnings: string[];
  /** The provider's usage payload as received, kept for debugging. */
  rawUsage: unknown;
}

export type ProviderStreamEvent =
  | { type: 'text-delta'; text: string }
  | { type: 'reasoning-delta'; text: string }
  /** One whole tool call, once its arguments are complete and parsed. */
  | LlmToolCallPart
  | ProviderFinish;

export interface ProviderGenerateResult extends Omit<ProviderFinish, 'type'> {
  text: string;
}

export interface LlmProvider {
  readonly kind: ProviderKind;
  /** Streams one completion; throws `ProviderFailure` (before or during the stream). */
  stream(request: ProviderCallRequest): AsyncIterable<ProviderStreamEvent>;
  /** One non-streaming completion; throws `ProviderFailure`. */
  generate(request: ProviderCallRequest): Promise<ProviderGenerateResult>;
  /** Model ids the provider lists, or undefined when it has no list endpoint. */
  listModels(signal: AbortSignal): Promise<string[] | undefined>;
  /** Image generation (llm-image-provider.ts); absent: the adapter cannot make images. */
  generateImages?: ImageGenerator['generateImages'];
}

/** The failures worth another attempt: the provider or the network may answer the next one. */
const RETRYABLE_FAILURES = [
  'rate-limited',
  'overloaded',
  'server-error',
  'network',
  'malformed-response',
  'timeout',
] as const;

/**
 * Why an attempt failed, in provider-neutral terms. The router decides from `kind` alone
 * whether to retry (see `isRetryableFailure`).
 */
export const FAILURE_KINDS = [
  ...RETRYABLE_FAILURES,
  'authentication',
  'permission',
  'model-not-found',
  'bad-request',
  'content-filter',
  'invalid-output',
  'circuit-open',
  'aborted',
  'unknown',
] as const;
export type FailureKind = (typeof FAILURE_KINDS)[number];

const RETRYABLE_KINDS: ReadonlySet<FailureKind> = new Set(RETRYABLE_FAILURES);

export function isRetryableFailure(kind: FailureKind): boolean {
  return RETRYABLE_KINDS.has(kind);
}

export interface ProviderFailureOptions {
  status?: number | undefined;
  retryAfterMs?: number | undefined;
  requestId?: string | undefined;
  /** The provider's own message, already scrubbed of secrets. */
  providerMessage?: string | undefined;
  /** Whether the response started (some output may have been billed). */
  responseStarted?: boolean;
  /**
   * The peer closed the connection before answering (an idle keep-alive socket reused just as
   * the server or a load balancer dropped it): retried, but not evidence the provider is down.
   */
  connectionDropped?: boolean;
  cause?: unknown;
}

/** A failed attempt. `message` is safe to show; `providerMessage` is scrubbed of secrets. */
export class ProviderFailure extends Error {
  readonly kind: FailureKind;
  readonly status: number | undefined;
  readonly retryAfterMs: number | undefined;
  readonly requestId: string | undefined;
  readonly providerMessage: string | undefined;
  readonly responseStarted: boolean;
  readonly connectionDropped: boolean;

  constructor(kind: FailureKind, message: string, options: ProviderFailureOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ProviderFailure';
    this.kind = kind;
    this.status = options.status;
    this.retryAfterMs = options.retryAfterMs;
    this.requestId = options.requestId;
    this.providerMessage = options.providerMessage;
    this.responseStarted = options.responseStarted ?? false;
    this.connectionDropped = options.connectionDropped ?? false;
  }

  get retryable(): boolean {
    return isRetryableFailure(this.kind);
  }
}

export function isProviderFailure(error: unknown): error is ProviderFailure {
  return error instanceof ProviderFailure;
}
