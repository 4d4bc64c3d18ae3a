import type { LlmToolCallPart } from '../llm/llm-provider.ts';
import type { LlmCallResult } from '../llm/llm-service.ts';
import type { AppError } from '../platform/app-error.ts';
import {
  AnthropicEventWriter,
  anthropicError,
  anthropicMessage,
  anthropicStreamError,
  fromAnthropic,
} from './gateway-anthropic.ts';
import type { GatewayCallInput } from './gateway-call.ts';
import { fromOpenAi, OpenAiChunkWriter, openAiCompletion, openAiError } from './gateway-openai.ts';

/** The SSE text of one streamed answer, event by event, in one wire format. */
export interface GatewayStreamWriter {
  /** The opening event(s), sent before the first output (or an error). */
  start(): string;
  text(text: string): string;
  toolCall(call: LlmToolCallPart): string;
  finish(result: LlmCallResult): string;
  /** An error after the stream has started: the format's own error event. */
  error(error: AppError, status: number): string;
  /** Whether an error event must follow the opening events (Anthropic's clients expect them). */
  readonly errorOpensStream: boolean;
}

/**
 * One provider wire format as the routes use it: the request body in, the answer (whole or
 * streamed) and errors out. The routes and the stream writer hold one of these instead of
 * asking "OpenAI or Anthropic?" at each step.
 */
export interface GatewayProtocol {
  readonly name: 'openai' | 'anthropic';
  parse(body: unknown): GatewayCall;
  completion(result: LlmCallResult, model: string, startedAt: number): unknown;
  errorBody(error: AppError, status: number, requestId: string): unknown;
  streamWriter(requestId: string, call: GatewayCall, startedAt: number): GatewayStreamWriter;
}

/** A parsed call and whether its stream ends with a usage event. */
export type GatewayCall = GatewayCallInput & { includeUsage: boolean };

export const openAiProtocol: GatewayProtocol = {
  name: 'openai',
  parse: fromOpenAi,
  completion: openAiCompletion,
  errorBody: openAiError,
  streamWriter(requestId, call, startedAt) {
    // The call id is known only at the end; the stream's ids come from our request id.
    const writer = new OpenAiChunkWriter(requestId, call.model, startedAt);
    return {
      start: () => writer.start(),
      text: (text) => writer.text(text),
      toolCall: (toolCall) => writer.toolCall(toolCall),
      finish: (result) => writer.finish(result, call.includeUsage),
      error: (error, status) =>
        `data: ${JSON.stringify(openAiError(error, status, requestId))}\n\n`,
      errorOpensStream: false,
    };
  },
};

export const anthropicProtocol: GatewayProtocol = {
  name: 'anthropic',
  // Anthropic's stream always carries usage (message_delta).
  parse: (body) => ({ ...fromAnthropic(body), includeUsage: true }),
  completion: (result, model) => anthropicMessage(result, model),
  errorBody: anthropicError,
  streamWriter(requestId, call) {
    const writer = new AnthropicEventWriter();
    return {
      start: () => writer.start(requestId, call.model),
      text: (text) => writer.text(text),
      toolCall: (toolCall) => writer.toolCall(toolCall),
      finish: (result) => writer.finish(result),
      error: (error, status) => anthropicStreamError(error, status, requestId),
      errorOpensStream: true,
    };
  },
};
