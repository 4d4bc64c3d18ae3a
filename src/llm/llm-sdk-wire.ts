import http from 'node:http';
import https from 'node:https';
import {
  type LlmMessage,
  type ProviderCallRequest,
  ProviderFailure,
  type ProviderGenerateResult,
  type ProviderKind,
  type ProviderStreamEvent,
} from './llm-provider.ts';
import {
  failureFromError,
  failureMessage,
  kindForStreamError,
  requestIdFrom,
  type SdkUsage,
  toFinishReason,
  toSdkPrompt,
  toTokenUsage,
} from './llm-sdk-mapping.ts';

/**
 * The fast path of the adapter: a plain chat call (text messages, no tools, no reasoning
 * setting; an output schema only on a whole call) to an OpenAI-compatible server, spoken in the Chat Completions
 * wire format directly over one keep-alive `node:http` agent per connection. It sends the body
 * the AI SDK would send and maps the answer with the same pure functions
 * (llm-sdk-mapping.ts), so callers see the same events, usage buckets and failure kinds; it
 * skips what the SDK costs per call on this path — zod validation of every chunk, web streams
 * and their conversions, the `ai` stream layers (docs/gateway.md, "Latency"); a whole call with
 * an output schema (an extract step's) is parsed as the SDK's `Output.object` parses it
 * (`structuredOutput`). Anything else (tools, streamed schemas, images other than base64 data
 * URLs, reasoning, other wire formats — OpenAI's Responses API has its own, llm-sdk-wire-responses.ts) goes
 * through the SDK. Images as data URLs (vision columns) are sent as they are, as the SDK sends
 * them, so a vision call costs about what a text call does (its payload is never copied).
 */

/** A call setting's name. */
export type WireParameter = keyof ProviderCallRequest['parameters'];
/** Settings the fast path sends as the SDK does; any other one sends the call through the SDK. */
const WIRE_PARAMETERS: ReadonlySet<WireParameter> = new Set([
  'maxOutputTokens',
  'temperature',
  'topP',
  'presencePenalty',
  'frequencyPenalty',
  'stopSequences',
  'seed',
]);

/**
 * An image the fast path sends as the SDK would: a base64 `data:image/…` URL whose media type
 * is the part's (or the part names none). Other images (https URLs, which the SDK downloads
 * first; a media type that differs from the URL's) go through the SDK. Only the URL's header
 * is read, never its payload.
 */
function wireImage(url: string, mediaType: string | undefined): boolean {
  if (!url.startsWith('data:image/')) return false;
  const comma = url.indexOf(',');
  if (comma < 0 || comma > 200) return false;
  const header = url.slice(5, comma);
  if (!header.endsWith(';base64')) return false;
  const type = header.slice(0, -';base64'.length);
  return (
    !type.includes(';') && type !== 'image/*' && (mediaType === undefined || mediaType === type)
  );
}

export const wireMessage = (message: LlmMessage): boolean =>
  typeof message.content === 'string' ||
  (message.role !== 'tool' &&
    message.content.every(
      (part) =>
        part.type === 'text' ||
        (message.role === 'user' && part.type === 'image' && wireImage(part.url, part.mediaType)),
    ));

/** Whether a request sets no parameter outside `allowed`. */
export function parametersWithin(
  request: ProviderCallRequest,
  allowed: ReadonlySet<WireParameter>,
): boolean {
  for (const [name, value] of Object.entries(request.parameters))
    if (value !== undefined && !allowed.has(name as WireParameter)) return false;
  return true;
}

/** An openai-compatible call with text (or data-URL image) messages and wire settings only. */
function plainCall(kind: ProviderKind, request: ProviderCallRequest): boolean {
  if (kind !== 'openai-compatible') return false;
  if (request.tools && request.tools.length > 0 && request.toolChoice !== 'none') return false;
  return parametersWithin(request, WIRE_PARAMETERS) && request.messages.every(wireMessage);
}

/** Whether a streamed call can take the fast path: see the file comment. */
export function wireEligible(kind: ProviderKind, request: ProviderCallRequest): boolean {
  return request.outputSchema === undefined && plainCall(kind, request);
}

/**
 * Whether a whole (non-streamed) call can take the fast path: no tools at all, and an output
 * schema is welcome — the answer's JSON is parsed here as the SDK parses it (`generate`).
 */
export function wireGenerateEligible(kind: ProviderKind, request: ProviderCallRequest): boolean {
  return (request.tools === undefined || request.tools.length === 0) && plainCall(kind, request);
}

/**
 * A fast-path call's prompt as the `ai` package hands it to a provider: image URLs as they came,
 * and no empty text part in a list of parts (`ai` drops those; a string stays as it is).
 */
export function wirePrompt(request: ProviderCallRequest): ReturnType<typeof toSdkPrompt> {
  const prompt = toSdkPrompt(request.messages, 'keep');
  for (const message of prompt.messages)
    if (Array.isArray(message.content))
      (message as { content: unknown[] }).content = (
        message.content as { type: string; text?: string }[]
      ).filter((part) => part.type !== 'text' || part.text !== '');
  return prompt;
}

/**
 * The Chat Completions body the SDK's openai-compatible provider sends for a plain call,
 * streamed or whole.
 */
export function chatCompletionsBody(request: ProviderCallRequest, stream = true): string {
  const prompt = wirePrompt(request);
  const messages: { role: string; content: unknown }[] = [];
  if (prompt.instructions !== undefined)
    messages.push({ role: 'system', content: prompt.instructions });
  for (const message of prompt.messages) {
    const content = message.content as string | { type: string; text?: string; image?: string }[];
    if (typeof content === 'string' || message.role === 'system')
      messages.push({ role: message.role, content });
    else if (message.role === 'assistant')
      messages.push({ role: 'assistant', content: content.map((part) => part.text).join('') });
    else if (content.length === 1 && content[0]?.type === 'text')
      messages.push({ role: 'user', content: (content[0] as { text: string }).text });
    else
      messages.push({
        role: 'user',
        content: content.map((part) =>
          part.type === 'text'
            ? { type: 'text', text: part.text }
            : // An image: its data URL as it came (wireImage checked it is what the SDK sends).
              { type: 'image_url', image_url: { url: part.image as string } },
        ),
      });
  }
  const p = request.parameters;
  return JSON.stringify({
    model: request.model,
    max_tokens: p.maxOutputTokens,
    temperature: p.temperature,
    top_p: p.topP,
    frequency_penalty: p.frequencyPenalty,
    presence_penalty: p.presencePenalty,
    // As the SDK's openai-compatible model sends a JSON Schema with `supportsStructuredOutputs`
    // (strict, named "response"; the AI SDK's `Output.object` gives it no name).
    response_format:
      request.outputSchema === undefined
        ? undefined
        : {
            type: 'json_schema',
            json_schema: { schema: request.outputSchema, strict: true, name: 'response' },
          },
    stop: p.stopSequences,
    seed: p.seed,
    messages,
    ...(stream
      ? {
          stream: true,
          // Servers like vLLM and llama.cpp report usage only when asked for it in the stream.
          stream_options: { include_usage: true },
        }
      : {}),
  });
}

/** Chat Completions `finish_reason` in the SDK's (and so the port's) words. */
const CHAT_FINISH: Record<string, string> = {
  stop: 'stop',
  length: 'length',
  content_filter: 'content-filter',
  function_call: 'tool-calls',
  tool_calls: 'tool-calls',
};

interface ChatUsage {
  prompt_tokens?: number | null;
  completion_tokens?: number | null;
  prompt_tokens_details?: { cached_tokens?: number | null } | null;
  completion_tokens_details?: { reasoning_tokens?: number | null } | null;
}

/** Chat Completions usage as the SDK reads it (absent details count 0, absent usage unknown). */
export function chatUsage(usage: ChatUsage | null | undefined): SdkUsage {
  if (usage == null) return {};
  const input = usage.prompt_tokens ?? 0;
  const output = usage.completion_tokens ?? 0;
  const cacheRead = usage.prompt_tokens_details?.cached_tokens ?? 0;
  const reasoning = usage.completion_tokens_details?.reasoning_tokens ?? 0;
  return {
    inputTokens: input,
    inputTokenDetails: { noCacheTokens: input - cacheRead, cacheReadTokens: cacheRead },
    outputTokens: output,
    outputTokenDetails: { textTokens: Math.max(0, output - reasoning), reasoningTokens: reasoning },
    raw: usage,
  };
}

interface ChatChunk {
  id?: string | null;
  model?: string | null;
  error?: { message?: string; type?: string | null; code?: string | number | null };
  usage?: ChatUsage | null;
  choices?: {
    delta?: { content?: string | null; reasoning_content?: string | null; reasoning?: string };
    finish_reason?: string | null;
  }[];
}

/**
 * The HTTP side of a connection's fast path: its endpoint, key and one keep-alive agent, shared
 * by the Chat Completions client below and the Responses client (llm-sdk-wire-responses.ts).
 */
/** A connection as its fast path needs it: kind, endpoint, key, and the secrets to redact. */
export interface WireOptions {
  kind: ProviderKind;
  baseUrl: string;
  apiKey: string | undefined;
  secrets: readonly (string | undefined)[];
}

export function createWireTransport(options: WireOptions) {
  const { kind, secrets } = options;
  const secure = options.baseUrl.startsWith('https:');
  // One agent per connection: calls reuse warm sockets instead of opening one each.
  const agent = secure
    ? new https.Agent({ keepAlive: true, scheduling: 'lifo' })
    : new http.Agent({ keepAlive: true, scheduling: 'lifo' });
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    accept: 'text/event-stream',
    ...(options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {}),
  };
  const fail = (error: unknown) => failureFromError(error, { provider: kind, secrets });

  /** The response of a POST, or a failure mapped as the SDK maps it (HTTP status, network). */
  function post(url: URL, body: string, signal: AbortSignal): Promise<http.IncomingMessage> {
    return new Promise((resolve, reject) => {
      const request = (secure ? https : http).request(url, {
        method: 'POST',
        agent,
        signal,
        headers: { ...headers, 'content-length': Buffer.byteLength(body) },
      });
      request.once('error', (error) => reject(fail(error)));
      request.once('response', (response) => {
        const status = response.statusCode ?? 0;
        if (status >= 200 && status < 300) return resolve(response);
        readAll(response)
          .then((text) => reject(fail(httpError(status, response.headers, text))))
          .catch((error: unknown) => reject(fail(error)));
      });
      request.end(body);
    });
  }

  /**
   * A whole answer's body, with the request id and the response as it came (`replay`), for the
   * SDK to map from the same bytes when the fast path does not map it itself.
   */
  async function readWhole(response: http.IncomingMessage, signal: AbortSignal) {
    const requestId = requestIdFrom(response.headers as Record<string, string>);
    let text: string;
    try {
      text = await readAll(response);
    } catch {
      const started = { responseStarted: true, requestId };
      if (signal.aborted)
        throw new ProviderFailure('aborted', failureMessage(kind, 'aborted'), started);
      throw new ProviderFailure('network', failureMessage(kind, 'network'), started);
    }
    const replay = {
      replay: {
        status: response.statusCode ?? 200,
        headers: Object.entries(response.headers).flatMap(([name, value]) =>
          value === undefined
            ? []
            : (Array.isArray(value) ? value : [value]).map(
                (one) => [name, one] as [string, string],
              ),
        ),
        body: text,
      },
    };
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    return { requestId, text, body, replay };
  }

  return { post, readWhole, close: () => agent.destroy() };
}

/** One connection's Chat Completions fast path. */
export function createWireClient(options: WireOptions) {
  const { kind } = options;
  const url = new URL(`${options.baseUrl}/chat/completions`);
  const transport = createWireTransport(options);
  const post = (body: string, signal: AbortSignal) => transport.post(url, body, signal);

  async function* stream(request: ProviderCallRequest): AsyncIterable<ProviderStreamEvent> {
    const response = await post(chatCompletionsBody(request), request.signal);
    response.setEncoding('utf8');
    const requestId = requestIdFrom(response.headers as Record<string, string>);
    const started = { responseStarted: true, requestId };
    let usage: ChatUsage | null | undefined;
    let finishReason: string | undefined;
    let responseId: string | undefined;
    let responseModel: string | undefined;
    let first = true;
    try {
      for await (const data of sseData(response)) {
        if (data === '[DONE]') continue;
        let chunk: ChatChunk;
        try {
          chunk = JSON.parse(data) as ChatChunk;
        } catch {
          throw new ProviderFailure(
            'malformed-response',
            failureMessage(kind, 'malformed-response'),
            started,
          );
        }
        if (chunk.error) {
          const { code, type, message } = chunk.error;
          const failureKind = kindForStreamError(`${code ?? ''} ${type ?? ''}`);
          throw new ProviderFailure(failureKind, failureMessage(kind, failureKind), {
            ...started,
            providerMessage: typeof message === 'string' ? message.slice(0, 300) : undefined,
          });
        }
        if (first) {
          first = false;
          responseId = chunk.id ?? undefined;
          responseModel = chunk.model ?? undefined;
        }
        if (chunk.usage != null) usage = chunk.usage;
        const choice = chunk.choices?.[0];
        if (!choice) continue;
        const reasoning = choice.delta?.reasoning_content ?? choice.delta?.reasoning;
        if (reasoning) yield { type: 'reasoning-delta', text: reasoning };
        const text = choice.delta?.content;
        if (text) yield { type: 'text-delta', text };
        if (choice.finish_reason != null) finishReason = choice.finish_reason;
      }
    } catch (error) {
      if (error instanceof ProviderFailure) throw error;
      if (request.signal.aborted)
        throw new ProviderFailure('aborted', failureMessage(kind, 'aborted'), started);
      // The connection broke after the answer had started.
      throw new ProviderFailure('network', failureMessage(kind, 'network'), started);
    }
    const sdkUsage = chatUsage(usage);
    yield {
      type: 'finish',
      usage: toTokenUsage(sdkUsage),
      finishReason: toFinishReason(
        finishReason === undefined ? 'other' : (CHAT_FINISH[finishReason] ?? 'other'),
      ),
      requestId,
      responseModel,
      responseId,
      output: undefined,
      toolCalls: [],
      warnings: [],
      rawUsage: sdkUsage.raw,
    };
  }

  /**
   * A whole answer. A plain body (one choice, text content, no refusal or tool calls, fields of
   * the types the SDK's schema wants) is mapped here as the SDK maps it; any other body is
   * handed back as it came (`replay`), for the SDK to map from the same bytes — so an odd
   * answer fails or succeeds exactly as through the SDK, without being asked for twice.
   */
  async function generate(request: ProviderCallRequest): Promise<WireGenerated> {
    const response = await post(chatCompletionsBody(request, false), request.signal);
    const { requestId, body, replay } = await transport.readWhole(response, request.signal);
    const plain = plainChatResponse(body);
    if (!plain) return replay;
    const { choice, usage } = plain;
    const content = choice.message.content ?? '';
    const finish =
      choice.finish_reason == null ? 'other' : (CHAT_FINISH[choice.finish_reason] ?? 'other');
    let output: unknown;
    if (request.outputSchema !== undefined) {
      // The SDK reads no output from a "tool calls" stop: left to it.
      output = finish === 'tool-calls' ? undefined : structuredOutput(content);
      if (output === undefined) return replay;
    }
    const sdkUsage = chatUsage(usage);
    return {
      result: {
        text: content,
        usage: toTokenUsage(sdkUsage),
        finishReason: toFinishReason(finish),
        requestId,
        // The SDK names the model it asked for when the body names none.
        responseModel: plain.model ?? request.model,
        responseId: plain.id ?? undefined,
        output,
        toolCalls: [],
        warnings: [],
        rawUsage: sdkUsage.raw,
      },
    };
  }

  return { stream, generate, close: transport.close };
}

/** A whole answer of the fast path, or the response to map through the SDK. */
export type WireGenerated =
  | { result: ProviderGenerateResult; replay?: undefined }
  | { replay: { status: number; headers: [string, string][]; body: string } };

export const nullish = (value: unknown) => value === undefined || value === null;
export const nullishOf = (value: unknown, type: 'string' | 'number') =>
  nullish(value) || typeof value === type;
export const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Usage whose fields are what the SDK's schema accepts. */
function plainUsage(usage: unknown): boolean {
  if (nullish(usage)) return true;
  if (!isObject(usage)) return false;
  const prompt = usage.prompt_tokens_details;
  const completion = usage.completion_tokens_details;
  return (
    nullishOf(usage.prompt_tokens, 'number') &&
    nullishOf(usage.completion_tokens, 'number') &&
    nullishOf(usage.total_tokens, 'number') &&
    (nullish(prompt) || (isObject(prompt) && nullishOf(prompt.cached_tokens, 'number'))) &&
    (nullish(completion) ||
      (isObject(completion) &&
        nullishOf(completion.reasoning_tokens, 'number') &&
        nullishOf(completion.accepted_prediction_tokens, 'number') &&
        nullishOf(completion.rejected_prediction_tokens, 'number')))
  );
}

interface PlainChoice {
  message: { content?: string | null };
  finish_reason?: string | null;
}

/** The parts of a plain Chat Completions answer (see `generate`), or undefined. */
function plainChatResponse(body: unknown):
  | {
      id: string | null | undefined;
      model: string | null | undefined;
      choice: PlainChoice;
      usage: ChatUsage | null | undefined;
    }
  | undefined {
  if (!isObject(body)) return undefined;
  const { id, model, created, choices, usage } = body;
  if (!nullishOf(id, 'string') || !nullishOf(model, 'string') || !nullishOf(created, 'number'))
    return undefined;
  if (!Array.isArray(choices) || choices.length !== 1 || !plainUsage(usage)) return undefined;
  const choice: unknown = choices[0];
  if (!isObject(choice) || !nullishOf(choice.finish_reason, 'string')) return undefined;
  const message = choice.message;
  if (
    !isObject(message) ||
    !(nullish(message.role) || message.role === 'assistant') ||
    !nullishOf(message.content, 'string') ||
    !nullish(message.refusal) ||
    !nullish(message.tool_calls) ||
    !nullishOf(message.reasoning_content, 'string') ||
    !nullishOf(message.reasoning, 'string')
  )
    return undefined;
  return {
    id: id as string | null | undefined,
    model: model as string | null | undefined,
    choice: choice as unknown as PlainChoice,
    usage: usage as ChatUsage | null | undefined,
  };
}

/**
 * The structured output of an answer's text, as the AI SDK's `Output.object` over a JSON Schema
 * gives it (the SDK parses, and does not validate a bare JSON Schema): the parsed JSON. Undefined
 * for anything the SDK would treat otherwise — no text (no output), text that is not JSON (its
 * "could not parse" failure), and JSON with a key `__proto__` or `constructor` (however it is
 * escaped), which the SDK's secure JSON parse refuses or allows by rules not copied here — so
 * the SDK maps those from the same bytes (`replay`) and a hostile answer fails exactly as it
 * would through the SDK.
 */
export function structuredOutput(text: string): unknown {
  if (text === '') return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  // `null` is JSON, but it is also how this module says "no output": left to the SDK.
  return value === null || hasGuardedKey(value) ? undefined : value;
}

const GUARDED_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor']);

/** Whether a parsed JSON value has a key `__proto__` or `constructor`, at any depth. */
const hasGuardedKey = (value: unknown) => hasKeyIn(value, GUARDED_KEYS);

/** Whether a JSON value has one of `keys` as an object key, at any depth. */
export function hasKeyIn(value: unknown, keys: ReadonlySet<string>): boolean {
  const pending: unknown[] = [value];
  while (pending.length > 0) {
    const next = pending.pop();
    if (typeof next !== 'object' || next === null) continue;
    if (Array.isArray(next)) {
      pending.push(...next);
      continue;
    }
    for (const key of Object.keys(next)) {
      if (keys.has(key)) return true;
      pending.push((next as Record<string, unknown>)[key]);
    }
  }
  return false;
}

export type WireClient = ReturnType<typeof createWireClient>;

/** An HTTP error answer, shaped as the SDK's APICallError (what `failureFromError` reads). */
function httpError(status: number, headers: http.IncomingHttpHeaders, body: string) {
  let message = http.STATUS_CODES[status] ?? `HTTP ${status}`;
  try {
    const parsed = JSON.parse(body) as { error?: { message?: unknown } };
    if (typeof parsed.error?.message === 'string') message = parsed.error.message;
  } catch {
    // Not JSON: the status text stands for it, as in the SDK.
  }
  return {
    name: 'AI_APICallError',
    message,
    statusCode: status,
    responseHeaders: headers,
    responseBody: body,
  };
}

async function readAll(response: http.IncomingMessage): Promise<string> {
  response.setEncoding('utf8');
  let text = '';
  for await (const chunk of response) text += chunk as string;
  return text;
}

/**
 * The `data` of each server-sent event (https://html.spec.whatwg.org/multipage/server-sent-events.html):
 * lines split on CR, LF or CRLF, `data:` lines joined by LF, an event dispatched at a blank line.
 */
export async function* sseData(source: AsyncIterable<string | Buffer>): AsyncIterable<string> {
  let buffer = '';
  let data: string[] = [];
  const decoder = new TextDecoder();
  for await (const chunk of source) {
    buffer += typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
    let start = 0;
    for (;;) {
      const end = nextLineEnd(buffer, start);
      if (end === -1) break;
      const line = buffer.slice(start, end);
      start = buffer[end] === '\r' && buffer[end + 1] === '\n' ? end + 2 : end + 1;
      if (line === '') {
        if (data.length > 0) yield data.join('\n');
        data = [];
      } else if (line.startsWith('data:')) {
        data.push(line.charCodeAt(5) === 32 ? line.slice(6) : line.slice(5));
      }
    }
    // A CR at the very end may be the first half of CRLF: keep it for the next chunk.
    buffer = buffer.slice(start);
  }
  if (data.length > 0) yield data.join('\n');
}

function nextLineEnd(text: string, from: number): number {
  for (let index = from; index < text.length; index++) {
    const code = text.charCodeAt(index);
    if (code === 10) return index;
    if (code === 13) return index + 1 < text.length ? index : -1;
  }
  return -1;
}
