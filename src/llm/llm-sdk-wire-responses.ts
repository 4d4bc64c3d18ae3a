import { openaiModelCatalog } from '@ai-sdk/openai/internal';
import type { ProviderCallRequest, ProviderKind } from './llm-provider.ts';
import { type SdkUsage, toFinishReason, toTokenUsage } from './llm-sdk-mapping.ts';
import {
  createWireTransport,
  hasKeyIn,
  isObject,
  nullish,
  nullishOf,
  parametersWithin,
  structuredOutput,
  type WireGenerated,
  type WireOptions,
  type WireParameter,
  wireMessage,
  wirePrompt,
} from './llm-sdk-wire.ts';

/**
 * The fast path of an `openai` connection's whole (non-streamed) calls: the body the AI SDK's
 * openai provider sends to OpenAI's Responses API (`POST /responses`, what `createOpenAI()(model)`
 * speaks), over the same keep-alive transport as the Chat Completions fast path
 * (llm-sdk-wire.ts), and a plain answer mapped as the SDK maps it (`convertOpenAIResponsesUsage`,
 * `mapOpenAIResponseFinishReason` in @ai-sdk/openai). It skips the SDK's zod validation of the
 * response and the `ai` layers around it. Anything else goes through the SDK: tools, reasoning
 * models (the SDK sends their system messages as `developer` and drops sampling settings),
 * settings the SDK warns about (seed, penalties, stop sequences, topK), schemas the SDK rewrites
 * before sending (`propertyNames`, lookaround patterns, `allOf` references), and any answer
 * that is not one plain assistant message — that one is handed back as it came (`replay`) for
 * the SDK to map from the same bytes, never asked for twice.
 */

/** Settings the Responses API takes as the SDK sends them, with no warning. */
const RESPONSES_PARAMETERS = new Set<WireParameter>(['maxOutputTokens', 'temperature', 'topP']);

/**
 * Whether the SDK treats a model as a reasoning model or sends its system messages other than
 * as `system` (its model catalog, else its rule for unlisted ids: o-series and GPT-5 and later).
 * Such models go through the SDK.
 */
function plainModel(model: string): boolean {
  const entry = Object.hasOwn(openaiModelCatalog, model) ? openaiModelCatalog[model] : undefined;
  const language = entry?.capabilities?.language;
  const config = entry?.requestConfig?.language;
  // The SDK uses a catalog entry only when all three parts are there (getOpenAILanguageModelEntry).
  if (language != null && config != null && entry?.providerOptions?.language != null)
    return language.reasoning?.support === false && config.systemMessageMode === 'system';
  if (/^o\d/.test(model)) return false;
  const gpt = /^gpt-(\d+)/.exec(model);
  return gpt === null || Number(gpt[1]) < 5;
}

/** Keywords the SDK's `normalizeOpenAIJsonSchema` rewrites; a schema with one goes through it. */
const REWRITTEN_KEYWORDS: ReadonlySet<string> = new Set([
  'propertyNames',
  'pattern',
  'allOf',
  '$ref',
]);

/** Whether a whole call to an `openai` connection can take the fast path: see the file comment. */
export function responsesGenerateEligible(
  kind: ProviderKind,
  request: ProviderCallRequest,
): boolean {
  if (kind !== 'openai') return false;
  if (request.tools !== undefined && request.tools.length > 0) return false;
  return (
    parametersWithin(request, RESPONSES_PARAMETERS) &&
    plainModel(request.model) &&
    (request.outputSchema === undefined || !hasKeyIn(request.outputSchema, REWRITTEN_KEYWORDS)) &&
    request.messages.every(wireMessage)
  );
}

/** The Responses API body the SDK's openai provider sends for an eligible whole call. */
export function responsesBody(request: ProviderCallRequest): string {
  const prompt = wirePrompt(request);
  const input: { role: string; content: unknown }[] = [];
  if (prompt.instructions !== undefined)
    input.push({ role: 'system', content: prompt.instructions });
  for (const message of prompt.messages) {
    const content = message.content as string | { type: string; text?: string; image?: string }[];
    if (message.role === 'system') input.push({ role: 'system', content });
    else if (message.role === 'assistant') {
      // One input item per text part, each with the part's text as its content.
      if (typeof content === 'string') input.push({ role: 'assistant', content });
      else for (const part of content) input.push({ role: 'assistant', content: part.text });
    } else
      input.push({
        role: 'user',
        content:
          typeof content === 'string'
            ? [{ type: 'input_text', text: content }]
            : content.map((part) =>
                part.type === 'text'
                  ? { type: 'input_text', text: part.text }
                  : // A base64 data URL whose media type is the part's (wireImage checked it).
                    { type: 'input_image', image_url: part.image as string },
              ),
      });
  }
  const p = request.parameters;
  return JSON.stringify({
    model: request.model,
    input,
    temperature: p.temperature,
    top_p: p.topP,
    max_output_tokens: p.maxOutputTokens,
    // As the SDK sends `Output.object`'s schema: strict, named "response".
    ...(request.outputSchema === undefined
      ? {}
      : {
          text: {
            format: {
              type: 'json_schema',
              strict: true,
              name: 'response',
              schema: request.outputSchema,
            },
          },
        }),
  });
}

interface ResponsesUsage {
  input_tokens: number;
  input_tokens_details?: {
    cached_tokens?: number | null;
    cache_write_tokens?: number | null;
  } | null;
  output_tokens: number;
  output_tokens_details?: { reasoning_tokens?: number | null } | null;
}

/** Responses usage as the SDK reads it (`convertOpenAIResponsesUsage`); absent usage unknown. */
export function responsesUsage(usage: ResponsesUsage | null | undefined): SdkUsage {
  if (usage == null) return {};
  const input = usage.input_tokens;
  const output = usage.output_tokens;
  const cacheRead = usage.input_tokens_details?.cached_tokens ?? 0;
  const cacheWrite = usage.input_tokens_details?.cache_write_tokens ?? undefined;
  const reasoning = usage.output_tokens_details?.reasoning_tokens ?? 0;
  return {
    inputTokens: input,
    inputTokenDetails: {
      noCacheTokens: input - cacheRead - (cacheWrite ?? 0),
      cacheReadTokens: cacheRead,
      cacheWriteTokens: cacheWrite,
    },
    outputTokens: output,
    outputTokenDetails: { textTokens: output - reasoning, reasoningTokens: reasoning },
    raw: usage,
  };
}

const numberDetails = (value: unknown, keys: readonly string[]) =>
  nullish(value) || (isObject(value) && keys.every((key) => nullishOf(value[key], 'number')));

/** Usage whose fields are what the SDK's schema accepts. */
function plainUsage(usage: unknown): boolean {
  if (nullish(usage)) return true;
  return (
    isObject(usage) &&
    typeof usage.input_tokens === 'number' &&
    typeof usage.output_tokens === 'number' &&
    numberDetails(usage.input_tokens_details, [
      'cached_tokens',
      'cache_write_tokens',
      'orchestration_input_tokens',
      'orchestration_input_cached_tokens',
    ]) &&
    nullish(
      (usage.input_tokens_details as { cache_write_tokens_details?: unknown } | undefined)
        ?.cache_write_tokens_details,
    ) &&
    numberDetails(usage.output_tokens_details, ['reasoning_tokens', 'orchestration_output_tokens'])
  );
}

/** The text of an output item that is one plain assistant message, or undefined. */
function messageText(item: unknown): string | undefined {
  if (
    !isObject(item) ||
    item.type !== 'message' ||
    item.role !== 'assistant' ||
    typeof item.id !== 'string' ||
    !nullish(item.phase) ||
    !Array.isArray(item.content)
  )
    return undefined;
  let text = '';
  for (const part of item.content) {
    // Refusals, citations and logprobs the SDK maps into more than text: left to it.
    if (
      !isObject(part) ||
      part.type !== 'output_text' ||
      typeof part.text !== 'string' ||
      !Array.isArray(part.annotations) ||
      part.annotations.length > 0 ||
      !(nullish(part.logprobs) || Array.isArray(part.logprobs))
    )
      return undefined;
    text += part.text;
  }
  return text;
}

/** The parts of a plain Responses answer (see `generate`), or undefined. */
function plainResponse(body: unknown):
  | {
      id: string | undefined;
      model: string | undefined;
      text: string;
      incomplete: string | undefined;
      usage: ResponsesUsage | null | undefined;
    }
  | undefined {
  if (!isObject(body)) return undefined;
  const { id, model, created_at, error, output, incomplete_details, usage } = body;
  if (
    !(id === undefined || typeof id === 'string') ||
    !(model === undefined || typeof model === 'string') ||
    !(created_at === undefined || typeof created_at === 'number') ||
    !nullish(error) ||
    !Array.isArray(output) ||
    !nullishOf(body.service_tier, 'string') ||
    !nullish(body.prompt_cache_diagnostics) ||
    !(
      nullish(body.reasoning) ||
      (isObject(body.reasoning) && nullishOf(body.reasoning.context, 'string'))
    ) ||
    !(
      nullish(incomplete_details) ||
      (isObject(incomplete_details) && typeof incomplete_details.reason === 'string')
    ) ||
    !plainUsage(usage)
  )
    return undefined;
  let text = '';
  for (const item of output) {
    const part = messageText(item);
    if (part === undefined) return undefined;
    text += part;
  }
  return {
    id,
    model,
    text,
    incomplete: isObject(incomplete_details) ? (incomplete_details.reason as string) : undefined,
    usage: usage as ResponsesUsage | null | undefined,
  };
}

/** `incomplete_details.reason` in the SDK's words, for an answer without tool calls or refusals. */
function finishOf(reason: string | undefined): string {
  if (reason === undefined) return 'stop';
  if (reason === 'max_output_tokens') return 'length';
  if (reason === 'content_filter') return 'content-filter';
  return 'other';
}

/** One `openai` connection's Responses fast path. */
export function createResponsesClient(options: WireOptions) {
  const url = new URL(`${options.baseUrl}/responses`);
  const transport = createWireTransport(options);

  /**
   * A whole answer: a body that is plain assistant text (fields of the types the SDK's schema
   * wants, no error) is mapped here as the SDK maps it; any other is handed back (`replay`).
   */
  async function generate(request: ProviderCallRequest): Promise<WireGenerated> {
    const response = await transport.post(url, responsesBody(request), request.signal);
    const { requestId, body, replay } = await transport.readWhole(response, request.signal);
    const plain = plainResponse(body);
    if (!plain) return replay;
    let output: unknown;
    if (request.outputSchema !== undefined) {
      output = structuredOutput(plain.text);
      if (output === undefined) return replay;
    }
    const sdkUsage = responsesUsage(plain.usage);
    return {
      result: {
        text: plain.text,
        usage: toTokenUsage(sdkUsage),
        finishReason: toFinishReason(finishOf(plain.incomplete)),
        requestId,
        // The SDK names the model it asked for when the body names none.
        responseModel: plain.model ?? request.model,
        responseId: plain.id,
        output,
        toolCalls: [],
        warnings: [],
        rawUsage: sdkUsage.raw,
      },
    };
  }

  return { generate, close: transport.close };
}
