import { modelCatalog } from './fake-llm-openai.ts';
import type { AnswerMode, JsonSchema } from './fake-llm-output.ts';
import {
  type Completion,
  contentText,
  type ErrorBody,
  isRecord,
  namedTool,
  optionalNumber,
  type ParsedRequest,
  type Protocol,
  pickTool,
  type StreamEncoder,
  sse,
} from './fake-llm-protocol.ts';

// Wire format of Anthropic's Messages API: https://docs.anthropic.com/en/api/messages and
// https://docs.anthropic.com/en/docs/build-with-claude/streaming

const anthropicErrors: Record<number, { type: string; message: string }> = {
  400: { type: 'invalid_request_error', message: 'Invalid request.' },
  401: { type: 'authentication_error', message: 'invalid x-api-key' },
  403: { type: 'permission_error', message: 'Your API key does not have permission.' },
  404: { type: 'not_found_error', message: 'Not found.' },
  413: { type: 'request_too_large', message: 'Request exceeds the maximum allowed size.' },
  429: { type: 'rate_limit_error', message: 'Rate limit reached (fake-llm).' },
  500: { type: 'api_error', message: 'Internal server error' },
  // Anthropic signals overload with 529; a 503 from a proxy in front of it reads the same way.
  503: { type: 'overloaded_error', message: 'Overloaded' },
  529: { type: 'overloaded_error', message: 'Overloaded' },
};

/** `{"type":"error","error":{"type","message"}}`; `code` overrides the error type. */
export const anthropicErrorBody: ErrorBody = (status, message, code) => {
  const known = anthropicErrors[status] ?? anthropicErrors[status >= 500 ? 500 : 400];
  return JSON.stringify({
    type: 'error',
    error: { type: code ?? known?.type, message: message ?? known?.message },
  });
};

/**
 * Structured output arrives either as a forced tool (`tool_choice` `tool`/`any`; the AI SDK adds
 * a tool named `json`) or, for newer models, as `output_config.format` (earlier `output_format`).
 */
function messagesMode(body: Record<string, unknown>): AnswerMode {
  const tools = Array.isArray(body.tools) ? body.tools.filter(isRecord) : [];
  const choice = isRecord(body.tool_choice) ? body.tool_choice : undefined;
  if (tools.length > 0 && (choice?.type === 'tool' || choice?.type === 'any')) {
    const tool = pickTool(
      tools,
      (entry) => entry.name,
      choice.type === 'tool' ? choice.name : undefined,
    );
    if (tool) {
      return {
        kind: 'tool',
        toolName: String(tool.name),
        schema: tool.input_schema as JsonSchema | undefined,
      };
    }
  }
  if (tools.length > 0 && choice?.type !== 'none') {
    const messages = Array.isArray(body.messages) ? body.messages.filter(isRecord) : [];
    const last = messages.at(-1);
    const answersTool =
      Array.isArray(last?.content) &&
      last.content.some((part) => isRecord(part) && part.type === 'tool_result');
    const tool = namedTool(
      tools,
      (entry) => entry.name,
      last?.role === 'user' && !answersTool ? contentText(last.content) : undefined,
      contentText(
        messages
          .filter(
            (message) =>
              message.role === 'user' &&
              !(
                Array.isArray(message.content) &&
                message.content.some((part) => isRecord(part) && part.type === 'tool_result')
              ),
          )
          .at(-1)?.content,
      ),
    );
    if (tool)
      return {
        kind: 'tool',
        toolName: String(tool.name),
        schema: tool.input_schema as JsonSchema | undefined,
      };
  }
  const outputConfig = isRecord(body.output_config) ? body.output_config : {};
  const format = isRecord(outputConfig.format) ? outputConfig.format : body.output_format;
  if (isRecord(format) && format.type === 'json_schema') {
    return { kind: 'json', schema: format.schema as JsonSchema | undefined };
  }
  return { kind: 'text' };
}

function parseMessagesRequest(body: unknown): ParsedRequest | { invalid: string } {
  if (!isRecord(body)) return { invalid: 'The request body must be a JSON object.' };
  if (typeof body.model !== 'string' || body.model === '') {
    return { invalid: 'model: Field required' };
  }
  if (!Array.isArray(body.messages)) return { invalid: 'messages: Field required' };
  const maxTokens = optionalNumber(body.max_tokens);
  if (maxTokens === undefined) return { invalid: 'max_tokens: Field required' };
  const texts: string[] = [];
  const system = contentText(body.system);
  if (system !== '') texts.push(system);
  let lastUserText = '';
  for (const message of body.messages) {
    if (!isRecord(message)) continue;
    const text = contentText(message.content);
    if (text !== '') texts.push(text);
    if (message.role === 'user') lastUserText = text;
  }
  return {
    model: body.model,
    stream: body.stream === true,
    includeUsage: true,
    maxTokens,
    mode: messagesMode(body),
    prompt: { lastUserText, texts },
  };
}

/** Anthropic's input_tokens excludes cache reads and writes; output_tokens includes thinking. */
function usageJson(
  completion: Completion,
  outputTokens?: number,
): Record<string, unknown> | undefined {
  const usage = completion.usage;
  if (!usage) return undefined;
  return {
    input_tokens: usage.inputTokens,
    cache_creation_input_tokens: usage.cacheWriteTokens,
    cache_read_input_tokens: usage.cacheReadTokens,
    output_tokens: outputTokens ?? usage.outputTokens + usage.reasoningTokens,
    service_tier: 'standard',
  };
}

function stopReason(completion: Completion): string {
  if (completion.answer.truncated) return 'max_tokens';
  return completion.answer.kind === 'tool' ? 'tool_use' : 'end_turn';
}

/** A tool call's input must be an object; forced non-JSON output becomes a text block. */
function toolInput(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return isRecord(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

function messagesBody(completion: Completion): string {
  const { answer } = completion;
  const input = answer.kind === 'tool' ? toolInput(answer.text) : undefined;
  const content =
    input !== undefined
      ? [{ type: 'tool_use', id: completion.toolCallId, name: answer.toolName, input }]
      : [{ type: 'text', text: answer.text }];
  return JSON.stringify({
    id: completion.id,
    type: 'message',
    role: 'assistant',
    model: completion.model,
    content,
    stop_reason:
      answer.kind === 'tool' && input === undefined && !answer.truncated
        ? 'end_turn'
        : stopReason(completion),
    stop_sequence: null,
    usage: usageJson(completion),
  });
}

function messagesStream(completion: Completion): StreamEncoder {
  const { answer } = completion;
  const isTool = answer.kind === 'tool';
  const deltaHead = '{"type":"content_block_delta","index":0,"delta":';
  return {
    open: () => {
      const message = {
        id: completion.id,
        type: 'message',
        role: 'assistant',
        model: completion.model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: usageJson(completion, 1),
      };
      const block = isTool
        ? { type: 'tool_use', id: completion.toolCallId, name: answer.toolName, input: {} }
        : { type: 'text', text: '' };
      return (
        sse(JSON.stringify({ type: 'message_start', message }), 'message_start') +
        sse(
          JSON.stringify({ type: 'content_block_start', index: 0, content_block: block }),
          'content_block_start',
        ) +
        sse('{"type": "ping"}', 'ping')
      );
    },
    piece: (text) =>
      isTool
        ? sse(
            `${deltaHead}{"type":"input_json_delta","partial_json":${JSON.stringify(text)}}}`,
            'content_block_delta',
          )
        : sse(
            `${deltaHead}{"type":"text_delta","text":${JSON.stringify(text)}}}`,
            'content_block_delta',
          ),
    malformed: () => sse(`${deltaHead}{"type":"text_delta","text":"`, 'content_block_delta'),
    error: (status) => sse(anthropicErrorBody(status ?? 529), 'error'),
    close: () =>
      sse('{"type":"content_block_stop","index":0}', 'content_block_stop') +
      sse(
        JSON.stringify({
          type: 'message_delta',
          delta: { stop_reason: stopReason(completion), stop_sequence: null },
          usage: usageJson(completion),
        }),
        'message_delta',
      ) +
      sse('{"type":"message_stop"}', 'message_stop'),
  };
}

export const anthropicMessagesProtocol: Protocol = {
  parseRequest: parseMessagesRequest,
  idPrefix: 'msg_',
  toolIdPrefix: 'toolu_',
  body: messagesBody,
  stream: messagesStream,
};

export function anthropicModelList(): string {
  const models = modelCatalog
    .filter((model) => model.owner === 'anthropic')
    .map((model) => ({
      type: 'model',
      id: model.id,
      display_name: model.name,
      created_at: new Date(model.created * 1000).toISOString().replace('.000Z', 'Z'),
    }));
  return JSON.stringify({
    data: models,
    has_more: false,
    first_id: models[0]?.id ?? null,
    last_id: models[models.length - 1]?.id ?? null,
  });
}
