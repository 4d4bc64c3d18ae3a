import { createAnthropic } from '@ai-sdk/anthropic';
import { createHuggingFace } from '@ai-sdk/huggingface';
import { createOpenAI } from '@ai-sdk/openai';
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import { generateText, jsonSchema, type LanguageModel, Output, streamText, tool } from 'ai';
import { createImageGenerator } from './llm-image-provider.ts';
import {
  type FinishReason,
  type LlmProvider,
  type LlmToolCallPart,
  type ProviderCallRequest,
  ProviderFailure,
  type ProviderGenerateResult,
  type ProviderKind,
  type ProviderStreamEvent,
} from './llm-provider.ts';
import {
  failureFromError,
  failureMessage,
  requestIdFrom,
  responseIdFrom,
  type SdkUsage,
  toFinishReason,
  toSdkPrompt,
  toTokenUsage,
  warningText,
} from './llm-sdk-mapping.ts';

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

  let factory: (model: string) => LanguageModel;
  switch (kind) {
    case 'openai': {
      const provider = createOpenAI(settings);
      factory = (model) => provider(model);
      break;
    }
    case 'anthropic': {
      const provider = createAnthropic(settings);
      factory = (model) => provider(model);
      break;
    }
    case 'huggingface': {
      const provider = createHuggingFace(settings);
      factory = (model) => provider(model);
      break;
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
      factory = (model) => provider(model);
      break;
    }
  }
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

  const callOptions = (request: ProviderCallRequest) => {
    if (kind === 'huggingface' && carriesToolHistory(request))
      // @ai-sdk/huggingface's Responses mapping drops assistant tool calls and tool results
      // from the input: the model would answer without them. Refused rather than lost.
      throw new ProviderFailure(
        'bad-request',
        'The huggingface connection cannot send tool calls and results back to the model; connect Hugging Face as openai-compatible (https://router.huggingface.co/v1) for tool use',
      );
    const prompt = toSdkPrompt(request.messages);
    const p = request.parameters;
    return {
      model: modelFor(request.model),
      ...(prompt.instructions === undefined ? {} : { instructions: prompt.instructions }),
      messages: prompt.messages,
      allowSystemInMessages: prompt.systemInMessages,
      maxRetries: 0,
      abortSignal: request.signal,
      ...(p.maxOutputTokens === undefined ? {} : { maxOutputTokens: p.maxOutputTokens }),
      ...(p.temperature === undefined ? {} : { temperature: p.temperature }),
      ...(p.topP === undefined ? {} : { topP: p.topP }),
      ...(p.topK === undefined ? {} : { topK: p.topK }),
      ...(p.presencePenalty === undefined ? {} : { presencePenalty: p.presencePenalty }),
      ...(p.frequencyPenalty === undefined ? {} : { frequencyPenalty: p.frequencyPenalty }),
      ...(p.stopSequences === undefined ? {} : { stopSequences: p.stopSequences }),
      ...(p.seed === undefined ? {} : { seed: p.seed }),
      ...(p.reasoningEffort === undefined ? {} : { reasoning: p.reasoningEffort }),
      ...(request.outputSchema === undefined
        ? {}
        : { output: Output.object({ schema: jsonSchema(request.outputSchema) }) }),
      // Tools without `execute`: the SDK reports the calls and stops; running them is the
      // caller's loop (one step per attempt, so a retry never runs a tool twice).
      // `none` is sent as no tools at all (the same for the model; some wire formats lack it).
      ...(request.tools && request.tools.length > 0 && request.toolChoice !== 'none'
        ? {
            tools: Object.fromEntries(
              request.tools.map((definition) => [
                definition.name,
                tool({
                  ...(definition.description ? { description: definition.description } : {}),
                  inputSchema: jsonSchema(definition.inputSchema),
                }),
              ]),
            ),
            ...(request.toolChoice === undefined
              ? {}
              : {
                  toolChoice:
                    typeof request.toolChoice === 'string'
                      ? request.toolChoice
                      : { type: 'tool' as const, toolName: request.toolChoice.toolName },
                }),
          }
        : {}),
    };
  };
  const toolCall = (part: {
    toolCallId: string;
    toolName: string;
    input: unknown;
  }): LlmToolCallPart => ({
    type: 'tool-call',
    toolCallId: part.toolCallId,
    toolName: part.toolName,
    input: part.input,
  });

  const fail = (error: unknown) => failureFromError(error, { provider: kind, secrets });

  return {
    ...createImageGenerator({ kind, baseUrl, apiKey: options.apiKey, fetch: fetchImpl }),
    kind,

    async *stream(request: ProviderCallRequest): AsyncIterable<ProviderStreamEvent> {
      const result = streamText({
        ...callOptions(request),
        // The default handler prints the error, request body (the prompt) included, to stderr.
        onError: () => {},
      });
      let warnings: string[] = [];
      const toolCalls: LlmToolCallPart[] = [];
      let finish:
        | {
            usage: SdkUsage;
            finishReason: string;
            response: {
              headers?: Record<string, string> | undefined;
              modelId?: string;
              id?: string;
            };
          }
        | undefined;
      try {
        for await (const part of result.fullStream) {
          switch (part.type) {
            case 'text-delta':
              if (part.text !== '') yield { type: 'text-delta', text: part.text };
              break;
            case 'reasoning-delta':
              if (part.text !== '') yield { type: 'reasoning-delta', text: part.text };
              break;
            case 'tool-call': {
              // A call whose input does not parse as the tool's JSON is an error part the SDK
              // reports separately ('tool-error' / invalid input); this one is whole.
              const call = toolCall(part);
              toolCalls.push(call);
              yield call;
              break;
            }
            case 'start-step':
              warnings = part.warnings.map(warningText);
              break;
            case 'finish-step':
              finish = part;
              break;
            case 'error':
              // Any error inside the stream fails the attempt: a partial answer is never a success.
              throw fail(part.error);
            case 'abort':
              throw new ProviderFailure('aborted', failureMessage(kind, 'aborted'));
            default:
              break;
          }
        }
        if (!finish) {
          throw new ProviderFailure('network', failureMessage(kind, 'network'), {
            responseStarted: true,
          });
        }
        const output = request.outputSchema === undefined ? undefined : await result.output;
        yield {
          type: 'finish',
          usage: toTokenUsage(finish.usage),
          finishReason: withToolCalls(toFinishReason(finish.finishReason), toolCalls.length),
          requestId: requestIdFrom(finish.response.headers),
          responseModel: finish.response.modelId,
          responseId: responseIdFrom(finish.response.id),
          output,
          toolCalls,
          warnings,
          rawUsage: finish.usage.raw,
        };
      } catch (error) {
        throw fail(error);
      }
    },

    async generate(request: ProviderCallRequest): Promise<ProviderGenerateResult> {
      try {
        const result = await generateText(callOptions(request));
        return {
          text: result.text,
          usage: toTokenUsage(result.usage),
          finishReason: withToolCalls(toFinishReason(result.finishReason), result.toolCalls.length),
          requestId: requestIdFrom(result.response.headers),
          responseModel: result.response.modelId,
          responseId: responseIdFrom(result.response.id),
          output: request.outputSchema === undefined ? undefined : result.output,
          toolCalls: result.toolCalls.map(toolCall),
          warnings: (result.warnings ?? []).map(warningText),
          rawUsage: result.usage.raw,
        };
      } catch (error) {
        throw fail(error);
      }
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

/** Assistant tool calls or tool results among the messages. */
function carriesToolHistory(request: ProviderCallRequest): boolean {
  return request.messages.some(
    (message) =>
      message.role === 'tool' ||
      (message.role === 'assistant' &&
        typeof message.content !== 'string' &&
        message.content.some((part) => part.type === 'tool-call')),
  );
}

/**
 * An answer that ends with tool calls finished for them, whatever the wire format says
 * (Hugging Face's Responses mapping reports `stop`): callers loop on `tool-calls`.
 */
function withToolCalls(reason: FinishReason, calls: number): FinishReason {
  return calls > 0 && reason === 'stop' ? 'tool-calls' : reason;
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
