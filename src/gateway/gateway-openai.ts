import type {
  LlmContentPart,
  LlmMessage,
  LlmToolCallPart,
  LlmToolChoice,
} from '../llm/llm-provider.ts';
import type { LlmCallResult } from '../llm/llm-service.ts';
import type { AppError } from '../platform/app-error.ts';
import {
  fieldError,
  type GatewayCallInput,
  inputTokens,
  issuesError,
  openAiFinishReason,
  parseToolArguments,
} from './gateway-call.ts';
import { type OpenAiChatRequest, openAiChatSchema } from './gateway-schema.ts';

/**
 * The OpenAI Chat Completions wire format: request → GatewayCallInput, result → response
 * body, stream events → `chat.completion.chunk` SSE lines, errors → `{ error: { … } }`.
 * Shapes follow the API reference (platform.openai.com/docs/api-reference/chat) so the
 * official `openai` client parses them.
 */

export interface OpenAiCall extends GatewayCallInput {
  /** `stream_options.include_usage`: a last chunk with `usage` and no choices. */
  includeUsage: boolean;
}

const textOf = (content: string | { text: string }[]) =>
  typeof content === 'string' ? content : content.map((part) => part.text).join('');

export function fromOpenAi(body: unknown): OpenAiCall {
  const parsed = openAiChatSchema.safeParse(body);
  if (!parsed.success) throw issuesError(parsed.error.issues);
  const request: OpenAiChatRequest = parsed.data;
  const messages: LlmMessage[] = [];
  // A tool message names only the call it answers; the tool's name comes from that call.
  const toolNames = new Map<string, string>();
  request.messages.forEach((message, index) => {
    switch (message.role) {
      case 'system':
      case 'developer':
        messages.push({ role: 'system', content: textOf(message.content) });
        break;
      case 'user': {
        if (typeof message.content === 'string') {
          messages.push({ role: 'user', content: message.content });
          break;
        }
        const parts: LlmContentPart[] = message.content.map((part, partIndex) => {
          if (part.type === 'text') return { type: 'text', text: part.text };
          const url = part.image_url.url;
          if (!/^(https:|data:image\/)/.test(url))
            throw fieldError(
              ['messages', index, 'content', partIndex, 'image_url', 'url'],
              'must be an https: or data:image URL',
            );
          return { type: 'image', url };
        });
        messages.push({ role: 'user', content: parts });
        break;
      }
      case 'assistant': {
        const text =
          message.content === undefined || message.content === null ? '' : textOf(message.content);
        const calls: LlmToolCallPart[] = (message.tool_calls ?? []).map((call, callIndex) => {
          toolNames.set(call.id, call.function.name);
          return {
            type: 'tool-call',
            toolCallId: call.id,
            toolName: call.function.name,
            input: parseToolArguments(call.function.arguments, [
              'messages',
              index,
              'tool_calls',
              callIndex,
              'function',
              'arguments',
            ]),
          };
        });
        if (calls.length === 0) messages.push({ role: 'assistant', content: text });
        else
          messages.push({
            role: 'assistant',
            content: [...(text === '' ? [] : [{ type: 'text' as const, text }]), ...calls],
          });
        break;
      }
      case 'tool': {
        const toolName = toolNames.get(message.tool_call_id);
        if (toolName === undefined)
          throw fieldError(
            ['messages', index, 'tool_call_id'],
            'answers no tool call of an earlier assistant message',
          );
        const output = textOf(message.content);
        const result = {
          type: 'tool-result' as const,
          toolCallId: message.tool_call_id,
          toolName,
          output,
        };
        // Results of one assistant turn's calls travel in one tool message.
        const last = messages.at(-1);
        if (last?.role === 'tool') last.content.push(result);
        else messages.push({ role: 'tool', content: [result] });
        break;
      }
    }
  });

  const format = request.response_format;
  const outputSchema =
    format?.type === 'json_schema'
      ? (format.json_schema.schema ?? { type: 'object' })
      : format?.type === 'json_object'
        ? { type: 'object' }
        : undefined;
  const maxOutputTokens = request.max_completion_tokens ?? request.max_tokens ?? undefined;
  const stop = request.stop;
  return {
    model: request.model,
    messages,
    parameters: {
      ...(maxOutputTokens === undefined ? {} : { maxOutputTokens }),
      ...(request.temperature == null ? {} : { temperature: request.temperature }),
      ...(request.top_p == null ? {} : { topP: request.top_p }),
      ...(request.presence_penalty == null ? {} : { presencePenalty: request.presence_penalty }),
      ...(request.frequency_penalty == null ? {} : { frequencyPenalty: request.frequency_penalty }),
      ...(stop == null ? {} : { stopSequences: typeof stop === 'string' ? [stop] : stop }),
      ...(request.seed == null ? {} : { seed: request.seed }),
      ...(request.reasoning_effort == null ? {} : { reasoningEffort: request.reasoning_effort }),
    },
    outputSchema,
    tools: request.tools?.map((tool) => ({
      name: tool.function.name,
      ...(tool.function.description === undefined
        ? {}
        : { description: tool.function.description }),
      inputSchema: tool.function.parameters ?? { type: 'object', properties: {} },
    })),
    toolChoice: toolChoiceOf(request.tool_choice),
    stream: request.stream === true,
    includeUsage: request.stream_options?.include_usage === true,
  };
}

function toolChoiceOf(choice: OpenAiChatRequest['tool_choice']): LlmToolChoice | undefined {
  if (choice === undefined) return undefined;
  if (typeof choice === 'string') return choice;
  return { toolName: choice.function.name };
}

/** `chatcmpl-…` from our call id, so a support question can name the usage row. */
export const completionId = (callId: string) => `chatcmpl-${callId}`;

export function openAiUsage(result: LlmCallResult) {
  const prompt = inputTokens(result.usage);
  const completion = result.usage.outputTokens ?? 0;
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
    prompt_tokens_details: { cached_tokens: result.usage.cacheReadTokens ?? 0 },
    completion_tokens_details: { reasoning_tokens: result.usage.reasoningTokens ?? 0 },
  };
}

const wireToolCall = (call: LlmToolCallPart) => ({
  id: call.toolCallId,
  type: 'function' as const,
  function: { name: call.toolName, arguments: JSON.stringify(call.input ?? {}) },
});

/** The text the caller sees: structured output as its JSON when the provider sent no text. */
export function answerText(result: LlmCallResult): string {
  if (result.text === '' && result.output !== undefined) return JSON.stringify(result.output);
  return result.text;
}

export function openAiCompletion(result: LlmCallResult, model: string, createdAt: number) {
  const text = answerText(result);
  return {
    id: completionId(result.callId),
    object: 'chat.completion',
    created: Math.floor(createdAt / 1000),
    model,
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          content: text === '' && result.toolCalls.length > 0 ? null : text,
          refusal: null,
          ...(result.toolCalls.length > 0
            ? { tool_calls: result.toolCalls.map(wireToolCall) }
            : {}),
        },
        logprobs: null,
        finish_reason: openAiFinishReason(result.finishReason),
      },
    ],
    usage: openAiUsage(result),
  };
}

/**
 * Writes a streamed answer as `chat.completion.chunk` events. One writer per response; its
 * methods return the SSE text to send (`data: …\n\n`).
 */
export class OpenAiChunkWriter {
  readonly #id: string;
  readonly #model: string;
  readonly #created: number;
  #toolIndex = 0;

  constructor(callId: string, model: string, createdAt: number) {
    this.#id = completionId(callId);
    this.#model = model;
    this.#created = Math.floor(createdAt / 1000);
  }

  #chunk(choices: unknown[], extra: Record<string, unknown> = {}): string {
    return `data: ${JSON.stringify({
      id: this.#id,
      object: 'chat.completion.chunk',
      created: this.#created,
      model: this.#model,
      choices,
      ...extra,
    })}\n\n`;
  }

  start(): string {
    return this.#chunk([
      { index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null },
    ]);
  }

  text(text: string): string {
    return this.#chunk([
      { index: 0, delta: { content: text }, logprobs: null, finish_reason: null },
    ]);
  }

  toolCall(call: LlmToolCallPart): string {
    const index = this.#toolIndex++;
    return this.#chunk([
      {
        index: 0,
        delta: { tool_calls: [{ index, ...wireToolCall(call) }] },
        logprobs: null,
        finish_reason: null,
      },
    ]);
  }

  finish(result: LlmCallResult, includeUsage: boolean): string {
    const last = this.#chunk([
      {
        index: 0,
        delta: {},
        logprobs: null,
        finish_reason: openAiFinishReason(result.finishReason),
      },
    ]);
    const usage = includeUsage ? this.#chunk([], { usage: openAiUsage(result) }) : '';
    return `${last}${usage}data: [DONE]\n\n`;
  }
}

const TYPE_BY_STATUS: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  402: 'insufficient_quota',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'invalid_request_error',
  429: 'rate_limit_error',
};

/** OpenAI's error body: `{ error: { message, type, param, code } }`, with our request id. */
export function openAiError(error: AppError, status: number, requestId: string) {
  const issues = error.details?.issues as { path: string }[] | undefined;
  const model = error.details?.model;
  return {
    error: {
      message: error.message,
      type: TYPE_BY_STATUS[status] ?? (status >= 500 ? 'api_error' : 'invalid_request_error'),
      param: issues?.[0]?.path ?? (typeof model === 'string' ? 'model' : null),
      code: wireCode(error),
      request_id: requestId,
    },
  };
}

/** The `code` field: OpenAI's own where one exists, else our code in lower case. */
export function wireCode(error: AppError): string {
  if (error.code === 'NOT_FOUND' && error.details?.reason === 'model') return 'model_not_found';
  if (error.code === 'UNAUTHENTICATED') return 'invalid_api_key';
  return error.code.toLowerCase();
}
