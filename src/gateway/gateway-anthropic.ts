import type {
  LlmAssistantPart,
  LlmContentPart,
  LlmMessage,
  LlmToolCallPart,
  LlmToolChoice,
  LlmToolResultPart,
} from '../llm/llm-provider.ts';
import type { LlmCallResult } from '../llm/llm-service.ts';
import type { AppError } from '../platform/app-error.ts';
import {
  anthropicStopReason,
  fieldError,
  type GatewayCallInput,
  issuesError,
} from './gateway-call.ts';
import { answerText, wireCode } from './gateway-openai.ts';
import { type AnthropicMessagesRequest, anthropicMessagesSchema } from './gateway-schema.ts';

/**
 * The Anthropic Messages wire format (docs.anthropic.com/en/api/messages and
 * …/messages-streaming): request → GatewayCallInput, result → message, stream events →
 * `message_start` … `message_stop`, errors → `{ type: 'error', error: { type, message } }`.
 */

export function fromAnthropic(body: unknown): GatewayCallInput {
  const parsed = anthropicMessagesSchema.safeParse(body);
  if (!parsed.success) throw issuesError(parsed.error.issues);
  const request: AnthropicMessagesRequest = parsed.data;
  const messages: LlmMessage[] = [];
  if (request.system !== undefined) {
    const system =
      typeof request.system === 'string'
        ? request.system
        : request.system.map((part) => part.text).join('\n');
    if (system !== '') messages.push({ role: 'system', content: system });
  }
  const toolNames = new Map<string, string>();
  request.messages.forEach((message, index) => {
    if (message.role === 'assistant') {
      if (typeof message.content === 'string') {
        messages.push({ role: 'assistant', content: message.content });
        return;
      }
      const parts: LlmAssistantPart[] = message.content.map((block) => {
        if (block.type === 'text') return { type: 'text', text: block.text };
        if (block.type === 'thinking') return { type: 'reasoning', text: block.thinking };
        toolNames.set(block.id, block.name);
        return {
          type: 'tool-call',
          toolCallId: block.id,
          toolName: block.name,
          input: block.input,
        };
      });
      messages.push({ role: 'assistant', content: parts.length > 0 ? parts : '' });
      return;
    }
    if (typeof message.content === 'string') {
      messages.push({ role: 'user', content: message.content });
      return;
    }
    // Tool results go first as a `tool` message; the turn's text and images follow it.
    const results: LlmToolResultPart[] = [];
    const parts: LlmContentPart[] = [];
    message.content.forEach((block, blockIndex) => {
      if (block.type === 'tool_result') {
        const toolName = toolNames.get(block.tool_use_id);
        if (toolName === undefined)
          throw fieldError(
            ['messages', index, 'content', blockIndex, 'tool_use_id'],
            'answers no tool_use of an earlier assistant message',
          );
        const output =
          block.content === undefined
            ? ''
            : typeof block.content === 'string'
              ? block.content
              : block.content.map((part) => part.text).join('');
        results.push({
          type: 'tool-result',
          toolCallId: block.tool_use_id,
          toolName,
          output,
          ...(block.is_error ? { isError: true } : {}),
        });
      } else if (block.type === 'text') parts.push({ type: 'text', text: block.text });
      else {
        const source = block.source;
        const url =
          source.type === 'base64' ? `data:${source.media_type};base64,${source.data}` : source.url;
        if (!/^(https:|data:image\/)/.test(url))
          throw fieldError(
            ['messages', index, 'content', blockIndex, 'source', 'url'],
            'must be an https: URL',
          );
        parts.push({
          type: 'image',
          url,
          ...(source.type === 'base64' ? { mediaType: source.media_type } : {}),
        });
      }
    });
    if (results.length > 0) messages.push({ role: 'tool', content: results });
    if (parts.length > 0) messages.push({ role: 'user', content: parts });
  });

  const choice = request.tool_choice;
  const toolChoice: LlmToolChoice | undefined =
    choice === undefined
      ? undefined
      : choice.type === 'any'
        ? 'required'
        : choice.type === 'tool'
          ? { toolName: choice.name }
          : choice.type;
  return {
    model: request.model,
    messages,
    parameters: {
      maxOutputTokens: request.max_tokens,
      ...(request.temperature === undefined ? {} : { temperature: request.temperature }),
      ...(request.top_p === undefined ? {} : { topP: request.top_p }),
      ...(request.top_k === undefined ? {} : { topK: request.top_k }),
      ...(request.stop_sequences === undefined ? {} : { stopSequences: request.stop_sequences }),
    },
    outputSchema: undefined,
    tools: request.tools?.map((tool) => ({
      name: tool.name,
      ...(tool.description === undefined ? {} : { description: tool.description }),
      inputSchema: tool.input_schema,
    })),
    toolChoice,
    stream: request.stream === true,
  };
}

export const messageId = (callId: string) => `msg_${callId.replaceAll('-', '')}`;

export function anthropicUsage(result: LlmCallResult) {
  return {
    input_tokens: result.usage.uncachedInputTokens ?? 0,
    output_tokens: result.usage.outputTokens ?? 0,
    cache_creation_input_tokens: result.usage.cacheWriteTokens ?? 0,
    cache_read_input_tokens: result.usage.cacheReadTokens ?? 0,
  };
}

const toolUse = (call: LlmToolCallPart) => ({
  type: 'tool_use' as const,
  id: call.toolCallId,
  name: call.toolName,
  input: call.input ?? {},
});

export function anthropicMessage(result: LlmCallResult, model: string) {
  const text = answerText(result);
  return {
    id: messageId(result.callId),
    type: 'message',
    role: 'assistant',
    model,
    content: [
      ...(text === '' && result.toolCalls.length > 0 ? [] : [{ type: 'text', text }]),
      ...result.toolCalls.map(toolUse),
    ],
    stop_reason: anthropicStopReason(result.finishReason),
    stop_sequence: null,
    usage: anthropicUsage(result),
  };
}

const event = (name: string, data: unknown) => `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;

/** Writes a streamed answer as Anthropic's named SSE events, one content block at a time. */
export class AnthropicEventWriter {
  #index = -1;
  #open: 'text' | undefined;

  start(callId: string, model: string): string {
    return event('message_start', {
      type: 'message_start',
      message: {
        id: messageId(callId),
        type: 'message',
        role: 'assistant',
        model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: { input_tokens: 0, output_tokens: 0 },
      },
    });
  }

  #close(): string {
    if (this.#open === undefined) return '';
    this.#open = undefined;
    return event('content_block_stop', { type: 'content_block_stop', index: this.#index });
  }

  text(text: string): string {
    let out = '';
    if (this.#open !== 'text') {
      out += this.#close();
      this.#index += 1;
      this.#open = 'text';
      out += event('content_block_start', {
        type: 'content_block_start',
        index: this.#index,
        content_block: { type: 'text', text: '' },
      });
    }
    return `${out}${event('content_block_delta', {
      type: 'content_block_delta',
      index: this.#index,
      delta: { type: 'text_delta', text },
    })}`;
  }

  toolCall(call: LlmToolCallPart): string {
    let out = this.#close();
    this.#index += 1;
    const index = this.#index;
    out += event('content_block_start', {
      type: 'content_block_start',
      index,
      content_block: { type: 'tool_use', id: call.toolCallId, name: call.toolName, input: {} },
    });
    out += event('content_block_delta', {
      type: 'content_block_delta',
      index,
      delta: { type: 'input_json_delta', partial_json: JSON.stringify(call.input ?? {}) },
    });
    return `${out}${event('content_block_stop', { type: 'content_block_stop', index })}`;
  }

  finish(result: LlmCallResult): string {
    return `${this.#close()}${event('message_delta', {
      type: 'message_delta',
      delta: { stop_reason: anthropicStopReason(result.finishReason), stop_sequence: null },
      usage: anthropicUsage(result),
    })}${event('message_stop', { type: 'message_stop' })}`;
  }
}

const TYPE_BY_STATUS: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  402: 'billing_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  503: 'overloaded_error',
  529: 'overloaded_error',
};

/** Anthropic's error body, with our request id and stable code. */
export function anthropicError(error: AppError, status: number, requestId: string) {
  return {
    type: 'error',
    error: {
      type: TYPE_BY_STATUS[status] ?? (status >= 500 ? 'api_error' : 'invalid_request_error'),
      message: error.message,
      code: wireCode(error),
    },
    request_id: requestId,
  };
}

/** An error inside a started stream (Anthropic's `event: error`). */
export function anthropicStreamError(error: AppError, status: number, requestId: string): string {
  return event('error', anthropicError(error, status, requestId));
}
