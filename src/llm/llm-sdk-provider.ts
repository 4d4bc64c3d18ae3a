import { createAnthropic } from '@ai-sdk/anthropic';
import { createHuggingFace } from '@ai-sdk/huggingface';
import { createOpenAI } from '@ai-sdk/openai';
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import type { LanguageModel } from 'ai';
import { createImageGenerator } from './llm-image-provider.ts';
import type {
  LlmProvider,
  ProviderCallRequest,
  ProviderGenerateResult,
  ProviderKind,
  ProviderStreamEvent,
} from './llm-provider.ts';
import { generateSdkAnswer, streamSdkAnswer } from './llm-sdk-answers.ts';
import { sdkCallOptions } from './llm-sdk-call-options.ts';
import { failureFromError } from './llm-sdk-mapping.ts';
import { createWireClient, wireEligible, wireGenerateEligible } from './llm-sdk-wire.ts';
import { createResponsesClient, responsesGenerateEligible } from './llm-sdk-wire-responses.ts';

// The SDK prints warnings (unsupported settings) to the console; we return them with the
// result instead, where the caller can log them with context.
(globalThis as { AI_SDK_LOG_WARNINGS?: boolean }).AI_SDK_LOG_WARNINGS = false;

export const DEFAULT_BASE_URLS: Record<Exclude<ProviderKind, 'openai-compatible'>, string> = {
  openai: 'https://api.openai.com/v1',
  anthropic: 'https://api.anthropic.com/v1',
  huggingface: 'https://router.huggingface.co/v1',
};

export interface SdkProviderOptions {
  kind: ProviderKind;
  /** Required for openai-compatible; the vendor's public endpoint otherwise. */
  baseUrl: string | undefined;
  apiKey: string | undefined;
  /** Injected for tests; defaults to the global fetch. */
  fetch?: typeof fetch;
  /**
   * Plain calls (streamed or whole) to an OpenAI-compatible server, and plain whole calls to
   * OpenAI's Responses API, skip the SDK (llm-sdk-wire.ts, llm-sdk-wire-responses.ts); on by
   * default, off with an injected `fetch` (which only the SDK path uses) or for tests.
   */
  fastPath?: boolean;
}

/** Anthropic's versioned API header, needed on every request (also GET /v1/models). */
const ANTHROPIC_VERSION = '2023-06-01';

/**
 * The adapter: one `LlmProvider` per configured connection, built on the AI SDK v7 provider
 * packages with the SDK's own retries off (`maxRetries: 0`) — the router is the one retry loop.
 */
export function createSdkProvider(options: SdkProviderOptions): LlmProvider {
  const { kind } = options;
  const baseUrl = resolveBaseUrl(options);
  const apiKey = options.apiKey ?? '';
  const secrets = [options.apiKey];
  const fetchImpl = options.fetch;
  const settings = { baseURL: baseUrl, apiKey, ...(fetchImpl ? { fetch: fetchImpl } : {}) };

  const factory = languageModels(kind, settings);
  const models = new Map<string, LanguageModel>();
  const modelFor = (id: string): LanguageModel => {
    let model = models.get(id);
    if (!model) {
      model = factory(id);
      if (models.size > 256) models.clear();
      models.set(id, model);
    }
    return model;
  };

  const callOptions = (request: ProviderCallRequest) =>
    sdkCallOptions(kind, modelFor(request.model), request);

  const fail = (error: unknown) => failureFromError(error, { provider: kind, secrets });
  const fastPath = fetchImpl === undefined && options.fastPath !== false;
  const wire =
    kind === 'openai-compatible' && fastPath
      ? createWireClient({ kind, baseUrl, apiKey: options.apiKey, secrets })
      : undefined;
  const responses =
    kind === 'openai' && fastPath
      ? createResponsesClient({ kind, baseUrl, apiKey: options.apiKey, secrets })
      : undefined;

  return {
    ...createImageGenerator({ kind, baseUrl, apiKey: options.apiKey, fetch: fetchImpl }),
    kind,

    stream(request: ProviderCallRequest): AsyncIterable<ProviderStreamEvent> {
      if (wire && wireEligible(kind, request)) return wire.stream(request);
      // Options are built inside the stream, so a request the adapter refuses fails the stream.
      return streamSdkAnswer(kind, () => callOptions(request), request, fail);
    },

    async generate(request: ProviderCallRequest): Promise<ProviderGenerateResult> {
      const generated =
        wire && wireGenerateEligible(kind, request)
          ? await wire.generate(request)
          : responses && responsesGenerateEligible(kind, request)
            ? await responses.generate(request)
            : undefined;
      if (generated === undefined)
        return generateSdkAnswer(() => callOptions(request), request, fail);
      if (generated.replay === undefined) return generated.result;
      // An answer the fast path does not map: the SDK maps the same response, not asked again.
      const { status, headers, body } = generated.replay;
      const replayed = languageModels(kind, {
        ...settings,
        fetch: async () => new Response(body, { status, headers }),
      })(request.model);
      return generateSdkAnswer(() => sdkCallOptions(kind, replayed, request), request, fail);
    },

    async listModels(signal: AbortSignal): Promise<string[] | undefined> {
      const headers: Record<string, string> =
        kind === 'anthropic'
          ? { 'x-api-key': apiKey, 'anthropic-version': ANTHROPIC_VERSION }
          : apiKey
            ? { authorization: `Bearer ${apiKey}` }
            : {};
      let response: Response;
      try {
        response = await (fetchImpl ?? fetch)(`${baseUrl}/models`, { headers, signal });
      } catch (error) {
        throw fail(error);
      }
      const body = await response.text().catch(() => '');
      if (response.status === 404 || response.status === 405) return undefined;
      if (!response.ok) {
        throw fail({
          name: 'AI_APICallError',
          message: body.slice(0, 500),
          statusCode: response.status,
          responseHeaders: Object.fromEntries(response.headers),
          responseBody: body,
        });
      }
      return parseModelList(body);
    },
  };
}

/** The SDK's model factory of a provider kind (one per connection). */
function languageModels(
  kind: ProviderKind,
  settings: { baseURL: string; apiKey: string; fetch?: typeof fetch },
): (model: string) => LanguageModel {
  switch (kind) {
    case 'openai': {
      const provider = createOpenAI(settings);
      return (model) => provider(model);
    }
    case 'anthropic': {
      const provider = createAnthropic(settings);
      return (model) => provider(model);
    }
    case 'huggingface': {
      const provider = createHuggingFace(settings);
      return (model) => provider(model);
    }
    case 'openai-compatible': {
      const provider = createOpenAICompatible({
        ...settings,
        name: 'openai-compatible',
        // Servers like vLLM and llama.cpp report usage only when asked for it in the stream.
        includeUsage: true,
        // vLLM, Ollama, llama.cpp and LM Studio accept a JSON Schema in response_format;
        // without this the SDK sends bare json_object and the schema is lost.
        supportsStructuredOutputs: true,
      });
      return (model) => provider(model);
    }
  }
}

export function resolveBaseUrl(options: Pick<SdkProviderOptions, 'kind' | 'baseUrl'>): string {
  const url =
    options.baseUrl ??
    (options.kind === 'openai-compatible' ? undefined : DEFAULT_BASE_URLS[options.kind]);
  if (!url) throw new Error('an openai-compatible provider needs a base URL');
  return url.replace(/\/+$/, '');
}

/** `{ data: [{ id }] }` (OpenAI, Anthropic, Hugging Face, vLLM, Ollama's /v1/models). */
export function parseModelList(body: string): string[] | undefined {
  try {
    const parsed = JSON.parse(body) as { data?: unknown; models?: unknown };
    const list = Array.isArray(parsed.data)
      ? parsed.data
      : Array.isArray(parsed.models)
        ? parsed.models
        : undefined;
    if (!list) return undefined;
    const ids = list
      .map((entry: unknown) =>
        typeof entry === 'object' && entry !== null
          ? ((entry as { id?: unknown; name?: unknown }).id ?? (entry as { name?: unknown }).name)
          : undefined,
      )
      .filter((id: unknown): id is string => typeof id === 'string');
    return [...new Set(ids)].sort();
  } catch {
    return undefined;
  }
}
