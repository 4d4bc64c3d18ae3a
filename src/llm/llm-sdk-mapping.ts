import type {
  FailureKind,
  FinishReason,
  LlmMessage,
  LlmToolCallPart,
  ProviderKind,
  TokenUsage,
} from './llm-provider.ts';
import { ProviderFailure } from './llm-provider.ts';

/**
 * Pure functions that turn AI SDK (vendor) values into the port's values. Each one is small and
 * table-tested in llm-sdk-mapping.test.ts; the adapter only wires them together.
 */

/** The subset of the AI SDK's `LanguageModelUsage` we read. */
export interface SdkUsage {
  inputTokens?: number | undefined;
  inputTokenDetails?: {
    noCacheTokens?: number | undefined;
    cacheReadTokens?: number | undefined;
    cacheWriteTokens?: number | undefined;
  };
  outputTokens?: number | undefined;
  outputTokenDetails?: { textTokens?: number | undefined; reasoningTokens?: number | undefined };
  raw?: unknown;
}

const count = (value: unknown): number | undefined =>
  typeof value === 'number' && Number.isFinite(value) && value >= 0 ? Math.round(value) : undefined;

/**
 * Maps SDK usage into disjoint buckets. OpenAI reports no cache-write bucket at all: it stays
 * undefined (unknown), not 0. When only the total and the cached part are known, the uncached
 * part is derived; when nothing is known, everything stays undefined.
 */
export function toTokenUsage(usage: SdkUsage | undefined): TokenUsage {
  const details = usage?.inputTokenDetails ?? {};
  const input = count(usage?.inputTokens);
  const cacheRead = count(details.cacheReadTokens);
  const cacheWrite = count(details.cacheWriteTokens);
  let uncached = count(details.noCacheTokens);
  if (uncached === undefined && input !== undefined) {
    const cached = (cacheRead ?? 0) + (cacheWrite ?? 0);
    uncached = input >= cached ? input - cached : undefined;
  }
  const output = count(usage?.outputTokens);
  let reasoning = count(usage?.outputTokenDetails?.reasoningTokens);
  const text = count(usage?.outputTokenDetails?.textTokens);
  if (reasoning === undefined && output !== undefined && text !== undefined && output >= text) {
    reasoning = output - text;
  }
  return {
    uncachedInputTokens: uncached,
    cacheReadTokens: cacheRead,
    cacheWriteTokens: cacheWrite,
    outputTokens: output,
    reasoningTokens: reasoning,
  };
}

const FINISH_REASONS: Record<string, FinishReason> = {
  stop: 'stop',
  length: 'length',
  'content-filter': 'content-filter',
  'tool-calls': 'tool-calls',
  error: 'error',
  other: 'other',
  interrupted: 'other',
};

export function toFinishReason(reason: string | undefined): FinishReason {
  return (reason !== undefined && FINISH_REASONS[reason]) || 'unknown';
}

/** The provider's request id header: OpenAI-style `x-request-id`, Anthropic `request-id`. */
export function requestIdFrom(headers: Record<string, string> | undefined): string | undefined {
  if (!headers) return undefined;
  return headers['x-request-id'] ?? headers['request-id'] ?? headers['x-amzn-requestid'];
}

/**
 * The provider's id of a completion. The AI SDK makes one up (`aitxt-…`) when the provider
 * sent none; that one identifies nothing at the provider, so it is dropped.
 */
export function responseIdFrom(id: string | undefined): string | undefined {
  return id === undefined || id.startsWith('aitxt-') ? undefined : id;
}

/**
 * How long the provider asks us to wait, in ms: `retry-after-ms` (OpenAI), else `Retry-After`
 * as delta-seconds or an HTTP-date (RFC 9110 §10.2.3). Undefined when absent or unparseable.
 */
export function parseRetryAfterMs(
  headers: Record<string, string> | undefined,
  now: number = Date.now(),
): number | undefined {
  if (!headers) return undefined;
  const milliseconds = headers['retry-after-ms'];
  if (milliseconds !== undefined && /^\d+(\.\d+)?$/.test(milliseconds.trim())) {
    return Math.ceil(Number(milliseconds));
  }
  const value = headers['retry-after']?.trim();
  if (!value) return undefined;
  if (/^\d+(\.\d+)?$/.test(value)) return Math.ceil(Number(value) * 1000);
  const date = Date.parse(value);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

const SECRET_PATTERNS = [
  /\bsk-[A-Za-z0-9_*-]{6,}/g,
  /\bhf_[A-Za-z0-9]{6,}/g,
  /\bBearer\s+\S+/gi,
  /\bx-api-key:\s*\S+/gi,
];

/** Removes every known secret, and anything shaped like an API key, from provider text. */
export function scrubSecrets(text: string, secrets: readonly (string | undefined)[] = []): string {
  let scrubbed = text;
  for (const secret of secrets) {
    if (secret && secret.length >= 4) scrubbed = scrubbed.split(secret).join('[redacted]');
  }
  for (const pattern of SECRET_PATTERNS) scrubbed = scrubbed.replace(pattern, '[redacted]');
  return scrubbed.length > 300 ? `${scrubbed.slice(0, 300)}…` : scrubbed;
}

interface ErrorLike {
  name?: unknown;
  message?: unknown;
  statusCode?: unknown;
  responseHeaders?: unknown;
  responseBody?: unknown;
  cause?: unknown;
  code?: unknown;
  type?: unknown;
  data?: unknown;
}

const CONTENT_POLICY = /content[_ -]?(policy|filter|management)|safety system|flagged/i;

/** The failure kind for an HTTP status from a provider. */
export function kindForStatus(status: number, body = ''): FailureKind {
  if (status === 429) return 'rate-limited';
  if (status === 408) return 'timeout';
  if (status === 529 || status === 503) return 'overloaded';
  if (status >= 500) return 'server-error';
  if (status === 401) return 'authentication';
  if (status === 403) return CONTENT_POLICY.test(body) ? 'content-filter' : 'permission';
  if (status === 404) return 'model-not-found';
  if (status >= 400 && CONTENT_POLICY.test(body)) return 'content-filter';
  if (status >= 400) return 'bad-request';
  return 'network';
}

const SAFE_MESSAGES: Record<FailureKind, string> = {
  'rate-limited': 'rate limited the request',
  overloaded: 'is overloaded',
  'server-error': 'answered with a server error',
  network: 'could not be reached or closed the connection',
  'malformed-response': 'sent a malformed response',
  timeout: 'did not answer in time',
  authentication: 'rejected the API key',
  permission: 'refused access to this model',
  'model-not-found': 'does not know this model',
  'bad-request': 'rejected the request as invalid',
  'content-filter': 'refused the content (content policy)',
  'invalid-output': 'returned output that does not match the schema',
  'circuit-open': 'is failing; calls are paused (circuit open)',
  aborted: 'call was cancelled',
  unknown: 'failed unexpectedly',
};

export function failureMessage(provider: string, kind: FailureKind, status?: number): string {
  return `${provider} ${SAFE_MESSAGES[kind]}${status === undefined ? '' : ` (HTTP ${status})`}`;
}

/**
 * Turns anything the AI SDK throws (APICallError, StreamProviderError, JSONParseError, a
 * NoObjectGeneratedError, a network TypeError) into a ProviderFailure. Never keeps the SDK
 * error as `cause`: it carries the request body (the prompt) and must not reach a log.
 */
export function failureFromError(
  error: unknown,
  context: {
    provider: ProviderKind | string;
    secrets?: readonly (string | undefined)[];
    now?: number;
  },
): ProviderFailure {
  if (error instanceof ProviderFailure) return error;
  const e = (typeof error === 'object' && error !== null ? error : {}) as ErrorLike;
  const name = typeof e.name === 'string' ? e.name : '';
  const rawMessage = typeof e.message === 'string' ? e.message : String(error);
  const providerMessage = scrubSecrets(rawMessage, context.secrets);
  const headers =
    typeof e.responseHeaders === 'object' && e.responseHeaders !== null
      ? (e.responseHeaders as Record<string, string>)
      : undefined;
  const status = typeof e.statusCode === 'number' ? e.statusCode : undefined;
  const base = {
    status,
    requestId: requestIdFrom(headers),
    providerMessage,
    retryAfterMs: parseRetryAfterMs(headers, context.now),
  };
  const make = (
    kind: FailureKind,
    extra: { responseStarted?: boolean; connectionDropped?: boolean } = {},
  ) =>
    new ProviderFailure(kind, failureMessage(context.provider, kind, status), {
      ...base,
      ...extra,
    });

  if (name === 'AbortError' || name === 'TimeoutError') return make('aborted');
  if (name === 'AI_NoObjectGeneratedError' || name === 'AI_TypeValidationError') {
    return make('invalid-output', { responseStarted: true });
  }
  if (name === 'AI_JSONParseError') return make('malformed-response', { responseStarted: true });
  if (name === 'AI_NoOutputGeneratedError') return make('network', { responseStarted: true });
  if (status !== undefined && status >= 200 && status < 300) {
    // The response started, then broke: the SDK wraps both cases with the 2xx status.
    const causeName = (e.cause as { name?: unknown } | undefined)?.name;
    return make(causeName === 'AI_JSONParseError' ? 'malformed-response' : 'network', {
      responseStarted: true,
    });
  }
  if (name === 'AI_StreamProviderError' && status === undefined) {
    // An error event inside a 200 stream, described only by the provider's code/type.
    return make(kindForStreamError(`${String(e.code ?? '')} ${String(e.type ?? '')}`), {
      responseStarted: true,
    });
  }
  if (status !== undefined) {
    const body = `${typeof e.responseBody === 'string' ? e.responseBody : ''} ${rawMessage}`;
    // An error event inside a started stream (StreamProviderError) keeps its status.
    return make(kindForStatus(status, body), {
      responseStarted: name === 'AI_StreamProviderError',
    });
  }
  if (name === 'AI_APICallError' || name === 'TypeError' || isNetworkCode(e)) {
    return make('network', { connectionDropped: wasDropped(e) });
  }
  return make('unknown');
}

/** The failure kind of an in-stream error event from its code/type (`rate_limit_exceeded`, `overloaded_error`, …). */
export function kindForStreamError(codeAndType: string): FailureKind {
  const text = codeAndType.toLowerCase();
  if (/rate_limit|too_many/.test(text)) return 'rate-limited';
  if (/overloaded|unavailable|capacity/.test(text)) return 'overloaded';
  if (/content_(policy|filter)|safety/.test(text)) return 'content-filter';
  if (/authentication|invalid_api_key|unauthori[sz]ed/.test(text)) return 'authentication';
  if (/permission|forbidden/.test(text)) return 'permission';
  if (/invalid_request|bad_request/.test(text)) return 'bad-request';
  if (/timeout/.test(text)) return 'timeout';
  // Anything else that breaks a started stream is the provider's failure, worth a retry.
  return 'server-error';
}

/** "other side closed" / ECONNRESET / EPIPE before any response: the peer dropped the socket. */
function wasDropped(error: ErrorLike): boolean {
  const cause = error.cause as { code?: unknown } | undefined;
  const code =
    typeof cause?.code === 'string' ? cause.code : typeof error.code === 'string' ? error.code : '';
  return code === 'UND_ERR_SOCKET' || code === 'ECONNRESET' || code === 'EPIPE';
}

function isNetworkCode(error: ErrorLike): boolean {
  const code = typeof error.code === 'string' ? error.code : undefined;
  return code !== undefined && /^(E[A-Z]+|UND_ERR_[A-Z_]+)$/.test(code);
}

type JsonValue = null | string | number | boolean | JsonValue[] | { [key: string]: JsonValue };

/** A tool result's output as the AI SDK takes it. */
type SdkToolOutput =
  | { type: 'json'; value: JsonValue }
  | { type: 'text'; value: string }
  | { type: 'error-json'; value: JsonValue }
  | { type: 'error-text'; value: string };

/** The part of an AI SDK `ModelMessage` we produce. */
export type SdkMessage =
  | { role: 'system'; content: string }
  | {
      role: 'user';
      content:
        | string
        | (
            | { type: 'text'; text: string }
            | { type: 'image'; image: URL | string; mediaType?: string }
          )[];
    }
  | {
      role: 'assistant';
      content:
        | string
        | (
            | { type: 'text'; text: string }
            | { type: 'reasoning'; text: string }
            | { type: 'tool-call'; toolCallId: string; toolName: string; input: unknown }
          )[];
    }
  | {
      role: 'tool';
      content: {
        type: 'tool-result';
        toolCallId: string;
        toolName: string;
        output: SdkToolOutput;
      }[];
    };

/** A tool result's output: strings as text, anything else as JSON; failures marked. */
export function toSdkToolOutput(output: unknown, isError = false): SdkToolOutput {
  if (typeof output === 'string')
    return isError ? { type: 'error-text', value: output } : { type: 'text', value: output };
  // Through JSON: what a provider receives is what JSON can carry (no undefined, no Dates).
  const value = JSON.parse(JSON.stringify(output ?? null)) as JsonValue;
  return isError ? { type: 'error-json', value } : { type: 'json', value };
}

/**
 * Leading system messages become `instructions`; the rest keep their order. System messages
 * after the first user turn are allowed through (`allowSystemInMessages`).
 */
export function toSdkPrompt(
  messages: readonly LlmMessage[],
  /** The fast path sends an image's URL as it came: no `URL` parse of a large data URL. */
  imageUrls: 'parse' | 'keep' = 'parse',
): {
  instructions: string | undefined;
  messages: SdkMessage[];
  systemInMessages: boolean;
} {
  const instructions: string[] = [];
  const converted: SdkMessage[] = [];
  let systemInMessages = false;
  for (const message of messages) {
    if (message.role === 'system') {
      if (converted.length === 0) instructions.push(message.content);
      else {
        converted.push({ role: 'system', content: message.content });
        systemInMessages = true;
      }
    } else if (message.role === 'user' && typeof message.content !== 'string') {
      converted.push({
        role: 'user',
        content: message.content.map((part) =>
          part.type === 'text'
            ? { type: 'text' as const, text: part.text }
            : {
                type: 'image' as const,
                image: imageUrls === 'keep' ? part.url : new URL(part.url),
                ...(part.mediaType ? { mediaType: part.mediaType } : {}),
              },
        ),
      });
    } else if (message.role === 'assistant' && typeof message.content !== 'string') {
      converted.push({
        role: 'assistant',
        content: message.content.map((part) =>
          part.type === 'tool-call'
            ? {
                type: 'tool-call' as const,
                toolCallId: part.toolCallId,
                toolName: part.toolName,
                input: part.input,
              }
            : { type: part.type, text: part.text },
        ),
      });
    } else if (message.role === 'tool') {
      converted.push({
        role: 'tool',
        content: message.content.map((part) => ({
          type: 'tool-result' as const,
          toolCallId: part.toolCallId,
          toolName: part.toolName,
          output: toSdkToolOutput(part.output, part.isError),
        })),
      });
    } else {
      converted.push({ role: message.role, content: message.content } as SdkMessage);
    }
  }
  return {
    instructions: instructions.length > 0 ? instructions.join('\n\n') : undefined,
    messages: converted,
    systemInMessages,
  };
}

/** A human-readable line for an SDK call warning (unsupported setting, compatibility mode). */
export function warningText(warning: unknown): string {
  if (typeof warning !== 'object' || warning === null) return String(warning);
  const w = warning as {
    type?: unknown;
    feature?: unknown;
    setting?: unknown;
    message?: unknown;
    details?: unknown;
  };
  const subject = w.feature ?? w.setting;
  const parts = [
    typeof w.type === 'string' ? w.type : 'warning',
    typeof subject === 'string' ? subject : undefined,
    typeof w.message === 'string'
      ? w.message
      : typeof w.details === 'string'
        ? w.details
        : undefined,
  ].filter((part): part is string => part !== undefined);
  return parts.join(': ');
}

/** A whole tool call the SDK reported, as the port's part. */
export function toolCallOf(part: {
  toolCallId: string;
  toolName: string;
  input: unknown;
}): LlmToolCallPart {
  return {
    type: 'tool-call',
    toolCallId: part.toolCallId,
    toolName: part.toolName,
    input: part.input,
  };
}

/**
 * An answer that ends with tool calls finished for them, whatever the wire format says
 * (Hugging Face's Responses mapping reports `stop`): callers loop on `tool-calls`.
 */
export function withToolCalls(reason: FinishReason, calls: number): FinishReason {
  return calls > 0 && reason === 'stop' ? 'tool-calls' : reason;
}
