import type { ProviderKind, TokenUsage } from './llm-provider.ts';
import { ProviderFailure, UNKNOWN_USAGE } from './llm-provider.ts';
import { failureFromError, failureMessage, requestIdFrom } from './llm-sdk-mapping.ts';

/**
 * Image generation on the provider port (docs/images.md "Image generation columns"): the
 * request and result an adapter's optional `generateImages` speaks, and the adapters for the
 * OpenAI-compatible `POST /v1/images/generations` and `/v1/images/edits` (OpenAI, and servers
 * that copy them: LocalAI, vLLM-omni, the fake) and for the Hugging Face Inference API's
 * text-to-image task. Kept apart from the text adapter: no AI SDK call is needed for one POST,
 * and its answer (images) is not a chat completion.
 */
export interface ProviderImageRequest {
  model: string;
  prompt: string;
  /** `WIDTHxHEIGHT`, or undefined: the provider's default. */
  size: string | undefined;
  /** Image-to-image: the images the prompt transforms (sent to the edit endpoint). */
  images?: readonly ProviderImageInput[] | undefined;
  /** Aborting it must close the upstream HTTP request. */
  signal: AbortSignal;
}

export interface ProviderImageInput {
  bytes: Buffer;
  mediaType: string;
  /** The file name sent with the part (providers read the type from it). */
  name: string;
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

/** Most images one edit may transform (OpenAI's limit for gpt-image-1). */
export const MAX_EDIT_IMAGES = 16;

/**
 * Whether a connection of this kind can transform images: the OpenAI-shaped edit endpoint, or
 * the Hugging Face Inference API's image-to-image task.
 */
export const editsImages = (kind: ProviderKind) =>
  kind === 'openai' || kind === 'openai-compatible' || kind === 'huggingface';

/** Most images one edit of this kind of connection transforms (the Inference API takes one). */
export const maxEditImages = (kind: ProviderKind | undefined) =>
  kind === 'huggingface' ? 1 : MAX_EDIT_IMAGES;

/**
 * The image adapter of one connection: OpenAI and OpenAI-compatible servers answer
 * `images/generations` (text-to-image) and `images/edits` (image-to-image, multipart); a Hugging
 * Face connection answers text-to-image and image-to-image (one image) through the Inference
 * API (`huggingFaceTextToImageUrl`); Anthropic has no image endpoint. A refusal is
 * `bad-request` (not retried).
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
  const authorization: Record<string, string> = apiKey ? { authorization: `Bearer ${apiKey}` } : {};

  /** One POST; the answer's bytes (bounded) and headers, or the provider's error mapped. */
  async function post(
    url: string,
    init: { headers: Record<string, string>; body: string | FormData },
    signal: AbortSignal,
  ) {
    let response: Response;
    try {
      response = await fetchImpl(url, {
        method: 'POST',
        headers: { ...authorization, ...init.headers },
        body: init.body,
        signal,
      });
    } catch (error) {
      throw fail(error);
    }
    const headers = Object.fromEntries(response.headers);
    const bytes = await readBounded(response, MAX_IMAGE_RESPONSE_BYTES).catch((error) => {
      throw error instanceof ProviderFailure ? error : fail(error);
    });
    if (!response.ok) {
      const text = bytes.toString('utf8');
      throw fail({
        name: 'AI_APICallError',
        message: errorMessageOf(text),
        statusCode: response.status,
        responseHeaders: headers,
        responseBody: text,
      });
    }
    return { bytes, headers };
  }

  return {
    async generateImages(request) {
      const edit = (request.images?.length ?? 0) > 0;
      if (kind === 'anthropic')
        throw new ProviderFailure(
          'bad-request',
          `A ${kind} connection cannot ${edit ? 'transform' : 'generate'} images; use an OpenAI or OpenAI-compatible connection`,
        );
      if (kind === 'huggingface') {
        const images = request.images ?? [];
        if (images.length > 1)
          throw new ProviderFailure(
            'bad-request',
            'A huggingface connection transforms one image at a time',
          );
        const { bytes, headers } = await post(
          huggingFaceTextToImageUrl(baseUrl, request.model),
          {
            headers: { 'content-type': 'application/json', accept: 'image/png, image/*' },
            body: JSON.stringify(
              images[0]
                ? huggingFaceImageToImageBody(request.prompt, images[0], request.size)
                : huggingFaceTextToImageBody(request.prompt, request.size),
            ),
          },
          request.signal,
        );
        return parseHuggingFaceImage(bytes, headers['content-type'], requestIdFrom(headers));
      }
      const fields: Record<string, string> = {
        model: request.model,
        prompt: request.prompt,
        n: '1',
      };
      if (request.size !== undefined) fields.size = request.size;
      // gpt-image models always answer base64 and refuse the parameter; the others default to
      // a URL we would have to fetch from somewhere else.
      if (!/^gpt-image/i.test(request.model)) fields.response_format = 'b64_json';
      const { bytes, headers } = edit
        ? await post(
            `${baseUrl}/images/edits`,
            { headers: {}, body: editForm(fields, request.images ?? []) },
            request.signal,
          )
        : await post(
            `${baseUrl}/images/generations`,
            {
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify({ ...fields, n: 1 }),
            },
            request.signal,
          );
      return parseImageResponse(bytes.toString('utf8'), kind, requestIdFrom(headers));
    },
  };
}

/**
 * The multipart body of `POST /v1/images/edits` (OpenAI's API reference): the text fields, then
 * the images — `image` for one, `image[]` for several (gpt-image-1 takes up to 16).
 */
export function editForm(
  fields: Record<string, string>,
  images: readonly ProviderImageInput[],
): FormData {
  const form = new FormData();
  for (const [name, value] of Object.entries(fields)) form.append(name, value);
  const field = images.length === 1 ? 'image' : 'image[]';
  for (const image of images)
    form.append(
      field,
      new Blob([new Uint8Array(image.bytes)], { type: image.mediaType }),
      image.name,
    );
  return form;
}

/**
 * The Hugging Face Inference API's text-to-image task: `POST {router}/hf-inference/models/{model}`
 * with `{"inputs": prompt}`, answered with the image's bytes. The connection's base URL is the
 * router's OpenAI-compatible `…/v1` (the text adapter's); the task lives beside it.
 */
export function huggingFaceTextToImageUrl(baseUrl: string, model: string): string {
  const segments = model.split('/');
  // A model is `owner/name`: an empty, `.` or `..` segment would point the request (and the
  // connection's token) at another path of the host.
  if (segments.some((segment) => segment === '' || segment === '.' || segment === '..'))
    throw new ProviderFailure('bad-request', 'Not a Hugging Face model name');
  const root = baseUrl.replace(/\/+$/, '').replace(/\/v1$/, '');
  return `${root}/hf-inference/models/${segments.map(encodeURIComponent).join('/')}`;
}

export function huggingFaceTextToImageBody(prompt: string, size: string | undefined) {
  const [width, height] = size?.split('x').map(Number) ?? [];
  return width && height ? { inputs: prompt, parameters: { width, height } } : { inputs: prompt };
}

/**
 * The Inference API's image-to-image task, at the same address as text-to-image: the image in
 * base64 as `inputs`, the prompt and the size (`target_size`) as parameters; answered, like
 * text-to-image, with the image's bytes.
 */
export function huggingFaceImageToImageBody(
  prompt: string,
  image: ProviderImageInput,
  size: string | undefined,
) {
  const [width, height] = size?.split('x').map(Number) ?? [];
  return {
    inputs: image.bytes.toString('base64'),
    parameters: { prompt, ...(width && height ? { target_size: { width, height } } : {}) },
  };
}

/**
 * A text-to-image (or image-to-image) answer: image bytes (checked by the caller like any upload). Anything else —
 * JSON, HTML, an empty body — is `invalid-output` with the provider's words when it gave any.
 * The Inference API reports no usage: tokens stay unknown and the cost null.
 */
export function parseHuggingFaceImage(
  bytes: Buffer,
  contentType: string | undefined,
  requestId: string | undefined,
): ProviderImageResult {
  if (bytes.length === 0 || !/^image\//i.test(contentType ?? ''))
    throw new ProviderFailure(
      'invalid-output',
      bytes.length > 0 && /json/i.test(contentType ?? '')
        ? `The provider returned no image: ${errorMessageOf(bytes.toString('utf8'))}`
        : 'The provider returned no image',
      { requestId, responseStarted: true },
    );
  return {
    images: [bytes],
    usage: { ...UNKNOWN_USAGE },
    requestId,
    revisedPrompt: undefined,
    warnings: [],
    rawUsage: undefined,
  };
}

/** The body, refusing one over `limit` bytes before it is all in memory. */
async function readBounded(response: Response, limit: number): Promise<Buffer> {
  const declared = Number(response.headers.get('content-length') ?? Number.NaN);
  if (declared > limit) {
    await response.body?.cancel();
    throw new ProviderFailure('malformed-response', 'The image answer is too large', {
      responseStarted: true,
    });
  }
  if (!response.body) return Buffer.alloc(0);
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
  return Buffer.concat(chunks);
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
