import type { ProviderKind, TokenUsage } from './llm-provider.ts';
import { ProviderFailure, UNKNOWN_USAGE } from './llm-provider.ts';
import { failureFromError, failureMessage, requestIdFrom } from './llm-sdk-mapping.ts';

/**
 * Image generation on the provider port (docs/images.md "Image generation columns"): the
 * request and result an adapter's optional `generateImages` speaks, and the adapter for the
 * OpenAI-compatible `POST /v1/images/generations` (OpenAI, and servers that copy it: LocalAI,
 * vLLM-omni, the fake). Kept apart from the text adapter: no AI SDK call is needed for one JSON
 * POST, and its answer (base64 images) is not a chat completion.
 */
export interface ProviderImageRequest {
  model: string;
  prompt: string;
  /** `WIDTHxHEIGHT`, or undefined: the provider's default. */
  size: string | undefined;
  /** Aborting it must close the upstream HTTP request. */
  signal: AbortSignal;
}

export interface ProviderImageResult {
  /** The images' bytes as received (checked by the caller, never trusted). */
  images: Buffer[];
  /** gpt-image models report tokens; DALL·E and most servers report none (undefined). */
  usage: TokenUsage;
  requestId: string | undefined;
  /** The prompt the provider says it used (DALL·E 3 rewrites prompts). */
  revisedPrompt: string | undefined;
  warnings: string[];
  rawUsage: unknown;
}

/** Implemented by adapters whose provider generates images. */
export interface ImageGenerator {
  generateImages(request: ProviderImageRequest): Promise<ProviderImageResult>;
}

/** An answer larger than this is refused (four images at the 20 MiB limit, base64). */
export const MAX_IMAGE_RESPONSE_BYTES = 128 * 1024 * 1024;

/**
 * The `images/generations` adapter of one connection. Anthropic has no image endpoint and the
 * Hugging Face router none in the OpenAI shape: both refuse with `bad-request` (not retried).
 */
export function createImageGenerator(options: {
  kind: ProviderKind;
  baseUrl: string;
  apiKey: string | undefined;
  fetch?: typeof fetch;
}): ImageGenerator {
  const { kind, baseUrl, apiKey } = options;
  const fetchImpl = options.fetch ?? fetch;
  const fail = (error: unknown) => failureFromError(error, { provider: kind, secrets: [apiKey] });
  return {
    async generateImages(request) {
      if (kind === 'anthropic' || kind === 'huggingface')
        throw new ProviderFailure(
          'bad-request',
          `A ${kind} connection cannot generate images; use an OpenAI or OpenAI-compatible connection`,
        );
      const body: Record<string, unknown> = { model: request.model, prompt: request.prompt, n: 1 };
      if (request.size !== undefined) body.size = request.size;
      // gpt-image models always answer base64 and refuse the parameter; the others default to
      // a URL we would have to fetch from somewhere else.
      if (!/^gpt-image/i.test(request.model)) body.response_format = 'b64_json';
      let response: Response;
      try {
        response = await fetchImpl(`${baseUrl}/images/generations`, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}),
          },
          body: JSON.stringify(body),
          signal: request.signal,
        });
      } catch (error) {
        throw fail(error);
      }
      const headers = Object.fromEntries(response.headers);
      const text = await readBounded(response, MAX_IMAGE_RESPONSE_BYTES).catch((error) => {
        throw error instanceof ProviderFailure ? error : fail(error);
      });
      if (!response.ok)
        throw fail({
          name: 'AI_APICallError',
          message: errorMessageOf(text),
          statusCode: response.status,
          responseHeaders: headers,
          responseBody: text,
        });
      return parseImageResponse(text, kind, requestIdFrom(headers));
    },
  };
}

/** The body as text, refusing one over `limit` bytes before it is all in memory. */
async function readBounded(response: Response, limit: number): Promise<string> {
  const declared = Number(response.headers.get('content-length') ?? Number.NaN);
  if (declared > limit) {
    await response.body?.cancel();
    throw new ProviderFailure('malformed-response', 'The image answer is too large', {
      responseStarted: true,
    });
  }
  if (!response.body) return '';
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
    size += chunk.length;
    if (size > limit) {
      await response.body.cancel().catch(() => {});
      throw new ProviderFailure('malformed-response', 'The image answer is too large', {
        responseStarted: true,
      });
    }
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks).toString('utf8');
}

function errorMessageOf(text: string): string {
  try {
    const parsed = JSON.parse(text) as { error?: { message?: unknown } | string };
    const message = typeof parsed.error === 'string' ? parsed.error : parsed.error?.message;
    if (typeof message === 'string') return message.slice(0, 500);
  } catch {
    // not JSON: the text itself
  }
  return text.slice(0, 500);
}

/**
 * `{ data: [{ b64_json, revised_prompt }], usage: { input_tokens, output_tokens } }` → images
 * and usage. An answer with no image is `invalid-output` (final: asking again gets the same
 * refusal), with the provider's words when it gave any.
 */
export function parseImageResponse(
  text: string,
  kind: string,
  requestId: string | undefined,
): ProviderImageResult {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ProviderFailure('malformed-response', failureMessage(kind, 'malformed-response'), {
      requestId,
      responseStarted: true,
    });
  }
  const record = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as {
    data?: unknown;
    usage?: unknown;
  };
  const data = Array.isArray(record.data) ? record.data : [];
  const images: Buffer[] = [];
  let revisedPrompt: string | undefined;
  for (const item of data) {
    if (typeof item !== 'object' || item === null) continue;
    const entry = item as { b64_json?: unknown; revised_prompt?: unknown };
    if (typeof entry.b64_json === 'string' && entry.b64_json !== '')
      images.push(Buffer.from(entry.b64_json, 'base64'));
    if (revisedPrompt === undefined && typeof entry.revised_prompt === 'string')
      revisedPrompt = entry.revised_prompt.slice(0, 4_000);
  }
  if (images.length === 0)
    throw new ProviderFailure('invalid-output', 'The provider returned no image', {
      requestId,
      responseStarted: true,
    });
  return {
    images,
    usage: imageUsage(record.usage),
    requestId,
    revisedPrompt,
    warnings: [],
    rawUsage: record.usage,
  };
}

/** OpenAI's image usage (`input_tokens`, `output_tokens`); unknown stays undefined. */
export function imageUsage(usage: unknown): TokenUsage {
  if (typeof usage !== 'object' || usage === null) return { ...UNKNOWN_USAGE };
  const record = usage as { input_tokens?: unknown; output_tokens?: unknown };
  const count = (value: unknown) =>
    typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  return {
    uncachedInputTokens: count(record.input_tokens),
    cacheReadTokens: undefined,
    cacheWriteTokens: undefined,
    outputTokens: count(record.output_tokens),
    reasoningTokens: undefined,
  };
}
