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

// Wire format of OpenAI's Chat Completions API (also served to Hugging Face's router and other
// OpenAI-compatible clients): https://platform.openai.com/docs/api-reference/chat

const openAiErrors: Record<number, { type: string; code: string; message: string }> = {
  400: { type: 'invalid_request_error', code: 'invalid_request', message: 'Invalid request.' },
  401: {
    type: 'invalid_request_error',
    code: 'invalid_api_key',
    message: 'Incorrect API key provided.',
  },
  403: { type: 'invalid_request_error', code: 'permission_denied', message: 'Permission denied.' },
  404: { type: 'invalid_request_error', code: 'not_found', message: 'Not found.' },
  408: { type: 'server_error', code: 'timeout', message: 'Request timed out.' },
  413: { type: 'invalid_request_error', code: 'request_too_large', message: 'Request too large.' },
  429: {
    type: 'requests',
    code: 'rate_limit_exceeded',
    message: 'Rate limit reached for requests (fake-llm). Please try again later.',
  },
  500: {
    type: 'server_error',
    code: 'server_error',
    message: 'The server had an error while processing your request. Sorry about that!',
  },
  503: {
    type: 'server_error',
    code: 'service_unavailable',
    message: 'The engine is currently overloaded, please try again later.',
  },
};

/**
 * `{"error":{"message","type","param","code"}}`. `code` is always a string: OpenAI sends null
 * for some errors, but Hugging Face's error schema in the AI SDK only accepts a string.
 */
export const openAiErrorBody: ErrorBody = (status, message, code) => {
  const known = openAiErrors[status] ?? openAiErrors[status >= 500 ? 500 : 400];
  return JSON.stringify({
    error: {
      message: message ?? known?.message,
      type: known?.type,
      param: null,
      code: code ?? known?.code,
    },
  });
};

function chatMode(body: Record<string, unknown>): AnswerMode {
  const tools = Array.isArray(body.tools) ? body.tools.filter(isRecord) : [];
  const choice = body.tool_choice;
  const forcedName =
    isRecord(choice) && isRecord(choice.function) ? choice.function.name : undefined;
  if (tools.length > 0 && (choice === 'required' || forcedName !== undefined)) {
    const tool = pickTool(
      tools,
      (entry) => (isRecord(entry.function) ? entry.function.name : undefined),
      forcedName,
    );
    if (tool && isRecord(tool.function)) {
      return {
        kind: 'tool',
        toolName: String(tool.function.name),
        schema: tool.function.parameters as JsonSchema | undefined,
      };
    }
  }
  if (tools.length > 0 && choice !== 'none') {
    const messages = Array.isArray(body.messages) ? body.messages.filter(isRecord) : [];
    const last = messages.at(-1);
    const tool = namedTool(
      tools,
      (entry) => (isRecord(entry.function) ? entry.function.name : undefined),
      last?.role === 'user' ? contentText(last.content) : undefined,
      contentText(messages.filter((message) => message.role === 'user').at(-1)?.content),
    );
    if (tool && isRecord(tool.function))
      return {
        kind: 'tool',
        toolName: String(tool.function.name),
        schema: tool.function.parameters as JsonSchema | undefined,
      };
  }
  const format = body.response_format;
  if (isRecord(format) && format.type === 'json_schema') {
    const schema = isRecord(format.json_schema) ? format.json_schema.schema : undefined;
    return { kind: 'json', schema: schema as JsonSchema | undefined };
  }
  if (isRecord(format) && format.type === 'json_object') return { kind: 'json', schema: undefined };
  return { kind: 'text' };
}

function parseChatRequest(body: unknown): ParsedRequest | { invalid: string } {
  if (!isRecord(body)) return { invalid: 'The request body must be a JSON object.' };
  if (typeof body.model !== 'string' || body.model === '') {
    return { invalid: 'You must provide a model parameter.' };
  }
  if (!Array.isArray(body.messages)) {
    return { invalid: "Missing required parameter: 'messages'." };
  }
  const texts: string[] = [];
  let lastUserText = '';
  for (const message of body.messages) {
    if (!isRecord(message)) continue;
    const text = contentText(message.content);
    if (text !== '') texts.push(text);
    if (message.role === 'user') lastUserText = text;
  }
  const streamOptions = isRecord(body.stream_options) ? body.stream_options : {};
  return {
    model: body.model,
    stream: body.stream === true,
    includeUsage: streamOptions.include_usage === true,
    maxTokens: optionalNumber(body.max_completion_tokens) ?? optionalNumber(body.max_tokens),
    mode: chatMode(body),
    prompt: { lastUserText, texts },
  };
}

function usageJson(completion: Completion): Record<string, unknown> | undefined {
  const usage = completion.usage;
  if (!usage) return undefined;
  // prompt_tokens includes cached tokens; completion_tokens includes reasoning tokens.
  const promptTokens = usage.inputTokens + usage.cacheReadTokens + usage.cacheWriteTokens;
  const completionTokens = usage.outputTokens + usage.reasoningTokens;
  return {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
    prompt_tokens_details: {
      cached_tokens: usage.cacheReadTokens,
      audio_tokens: 0,
      ...(usage.cacheWriteTokens > 0 && { cache_write_tokens: usage.cacheWriteTokens }),
    },
    completion_tokens_details: {
      reasoning_tokens: usage.reasoningTokens,
      audio_tokens: 0,
      accepted_prediction_tokens: 0,
      rejected_prediction_tokens: 0,
    },
  };
}

function finishReason(completion: Completion): string {
  if (completion.answer.truncated) return 'length';
  return completion.answer.kind === 'tool' ? 'tool_calls' : 'stop';
}

const systemFingerprint = 'fp_fakellm';

function chatBody(completion: Completion): string {
  const { answer } = completion;
  const message =
    answer.kind === 'tool'
      ? {
          role: 'assistant',
          content: null,
          tool_calls: [
            {
              id: completion.toolCallId,
              type: 'function',
              function: { name: answer.toolName, arguments: answer.text },
            },
          ],
          refusal: null,
          annotations: [],
        }
      : { role: 'assistant', content: answer.text, refusal: null, annotations: [] };
  return JSON.stringify({
    id: completion.id,
    object: 'chat.completion',
    created: completion.created,
    model: completion.model,
    choices: [{ index: 0, message, logprobs: null, finish_reason: finishReason(completion) }],
    usage: usageJson(completion),
    service_tier: 'default',
    system_fingerprint: systemFingerprint,
  });
}

function chatStream(completion: Completion): StreamEncoder {
  const { answer } = completion;
  // Every chunk shares this head; with include_usage OpenAI adds "usage":null to each one.
  const head = `{"id":${JSON.stringify(completion.id)},"object":"chat.completion.chunk","created":${completion.created},"model":${JSON.stringify(completion.model)},"service_tier":"default","system_fingerprint":"${systemFingerprint}",`;
  const tail = completion.includeUsage ? ',"usage":null}' : '}';
  const choice = (delta: string, finish: string | null) =>
    `"choices":[{"index":0,"delta":${delta},"logprobs":null,"finish_reason":${finish === null ? 'null' : `"${finish}"`}}]`;
  const chunk = (delta: string, finish: string | null = null) =>
    sse(head + choice(delta, finish) + tail);
  const isTool = answer.kind === 'tool';

  return {
    open: () =>
      isTool
        ? chunk(
            JSON.stringify({
              role: 'assistant',
              content: null,
              tool_calls: [
                {
                  index: 0,
                  id: completion.toolCallId,
                  type: 'function',
                  function: { name: answer.toolName, arguments: '' },
                },
              ],
              refusal: null,
            }),
          )
        : chunk('{"role":"assistant","content":"","refusal":null}'),
    piece: (text) =>
      isTool
        ? chunk(`{"tool_calls":[{"index":0,"function":{"arguments":${JSON.stringify(text)}}}]}`)
        : chunk(`{"content":${JSON.stringify(text)}}`),
    malformed: () => sse(`${head}"choices":[{"index":0,"delta":{"content":"`),
    error: (status) => sse(openAiErrorBody(status ?? 500)),
    close: () => {
      let text = chunk('{}', finishReason(completion));
      const usage = usageJson(completion);
      if (completion.includeUsage && usage) {
        text += sse(`${head}"choices":[],"usage":${JSON.stringify(usage)}}`);
      }
      return `${text}data: [DONE]\n\n`;
    },
  };
}

export const openAiChatProtocol: Protocol = {
  parseRequest: parseChatRequest,
  idPrefix: 'chatcmpl-',
  toolIdPrefix: 'call_',
  body: chatBody,
  stream: chatStream,
};

/** The catalog answered by `GET /v1/models` (OpenAI's list format, or Anthropic's for claude-*). */
export const modelCatalog: readonly { id: string; owner: string; created: number; name: string }[] =
  [
    { id: 'gpt-4o-mini', owner: 'system', created: 1721172741, name: 'GPT-4o mini' },
    { id: 'gpt-4o', owner: 'system', created: 1715367049, name: 'GPT-4o' },
    { id: 'gpt-4.1-mini', owner: 'system', created: 1744318173, name: 'GPT-4.1 mini' },
    { id: 'gpt-4.1', owner: 'system', created: 1744316542, name: 'GPT-4.1' },
    { id: 'o4-mini', owner: 'system', created: 1744225351, name: 'o4-mini' },
    {
      id: 'text-embedding-3-small',
      owner: 'system',
      created: 1705948997,
      name: 'Embedding 3 small',
    },
    {
      id: 'meta-llama/Llama-3.1-8B-Instruct',
      owner: 'meta-llama',
      created: 1721347200,
      name: 'Llama 3.1 8B Instruct',
    },
    {
      id: 'claude-3-5-haiku-20241022',
      owner: 'anthropic',
      created: 1729555200,
      name: 'Claude Haiku 3.5',
    },
    {
      id: 'claude-haiku-4-5-20251001',
      owner: 'anthropic',
      created: 1759276800,
      name: 'Claude Haiku 4.5',
    },
    {
      id: 'claude-sonnet-4-5-20250929',
      owner: 'anthropic',
      created: 1759104000,
      name: 'Claude Sonnet 4.5',
    },
    { id: 'fake-model', owner: 'fake-llm', created: 1704067200, name: 'Fake model' },
  ];

export function openAiModelList(): string {
  return JSON.stringify({
    object: 'list',
    data: modelCatalog.map((model) => ({
      id: model.id,
      object: 'model',
      created: model.created,
      owned_by: model.owner,
    })),
  });
}
