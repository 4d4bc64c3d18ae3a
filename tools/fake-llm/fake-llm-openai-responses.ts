import type { AnswerMode, JsonSchema } from './fake-llm-output.ts';
import {
  type Completion,
  contentText,
  isRecord,
  namedTool,
  optionalNumber,
  type ParsedRequest,
  type Protocol,
  pickTool,
  type StreamEncoder,
  sse,
} from './fake-llm-protocol.ts';

// Wire format of OpenAI's Responses API (https://platform.openai.com/docs/api-reference/responses),
// which `@ai-sdk/openai` uses by default and `@ai-sdk/huggingface` uses exclusively. Text,
// JSON (`text.format`) and forced function calls only; no hosted tools, reasoning items or state.

function responsesMode(body: Record<string, unknown>): AnswerMode {
  const tools = Array.isArray(body.tools)
    ? body.tools.filter((tool) => isRecord(tool) && tool.type === 'function').filter(isRecord)
    : [];
  const choice = body.tool_choice;
  // OpenAI sends {type:'function', name}; @ai-sdk/huggingface sends the chat-style
  // {type:'function', function:{name}}.
  const forcedName =
    isRecord(choice) && choice.type === 'function'
      ? (choice.name ?? (isRecord(choice.function) ? choice.function.name : undefined))
      : undefined;
  if (tools.length > 0 && (choice === 'required' || forcedName !== undefined)) {
    const tool = pickTool(tools, (entry) => entry.name, forcedName);
    if (tool) {
      return {
        kind: 'tool',
        toolName: String(tool.name),
        schema: tool.parameters as JsonSchema | undefined,
      };
    }
  }
  if (tools.length > 0 && choice !== 'none') {
    const items = Array.isArray(body.input) ? body.input.filter(isRecord) : [];
    const last = items.at(-1);
    const lastUserTurn =
      typeof body.input === 'string'
        ? body.input
        : last?.role === 'user'
          ? contentText(last.content)
          : undefined;
    const tool = namedTool(
      tools,
      (entry) => entry.name,
      lastUserTurn,
      contentText(items.filter((item) => item.role === 'user').at(-1)?.content),
    );
    if (tool)
      return {
        kind: 'tool',
        toolName: String(tool.name),
        schema: tool.parameters as JsonSchema | undefined,
      };
  }
  const text = isRecord(body.text) ? body.text : {};
  const format = isRecord(text.format) ? text.format : undefined;
  if (format?.type === 'json_schema') {
    return { kind: 'json', schema: format.schema as JsonSchema | undefined };
  }
  if (format?.type === 'json_object') return { kind: 'json', schema: undefined };
  return { kind: 'text' };
}

function parseResponsesRequest(body: unknown): ParsedRequest | { invalid: string } {
  if (!isRecord(body)) return { invalid: 'The request body must be a JSON object.' };
  if (typeof body.model !== 'string' || body.model === '') {
    return { invalid: "Missing required parameter: 'model'." };
  }
  const texts: string[] = [];
  if (typeof body.instructions === 'string' && body.instructions !== '') {
    texts.push(body.instructions);
  }
  let lastUserText = '';
  if (typeof body.input === 'string') {
    texts.push(body.input);
    lastUserText = body.input;
  } else if (Array.isArray(body.input)) {
    for (const item of body.input) {
      if (!isRecord(item)) continue;
      const text = contentText(
        item.content ?? (typeof item.output === 'string' ? item.output : ''),
      );
      if (text !== '') texts.push(text);
      if (item.role === 'user') lastUserText = text;
    }
  } else {
    return { invalid: "Missing required parameter: 'input'." };
  }
  return {
    model: body.model,
    stream: body.stream === true,
    includeUsage: true,
    maxTokens: optionalNumber(body.max_output_tokens),
    mode: responsesMode(body),
    prompt: { lastUserText, texts },
  };
}

function usageJson(completion: Completion): Record<string, unknown> | null {
  const usage = completion.usage;
  if (!usage) return null;
  const inputTokens = usage.inputTokens + usage.cacheReadTokens + usage.cacheWriteTokens;
  const outputTokens = usage.outputTokens + usage.reasoningTokens;
  return {
    input_tokens: inputTokens,
    input_tokens_details: {
      cached_tokens: usage.cacheReadTokens,
      ...(usage.cacheWriteTokens > 0 && { cache_write_tokens: usage.cacheWriteTokens }),
    },
    output_tokens: outputTokens,
    output_tokens_details: { reasoning_tokens: usage.reasoningTokens },
    total_tokens: inputTokens + outputTokens,
  };
}

function outputItem(completion: Completion, done: boolean): Record<string, unknown> {
  const { answer } = completion;
  const status = done ? 'completed' : 'in_progress';
  if (answer.kind === 'tool') {
    return {
      id: `fc_${completion.id.slice(5)}`,
      type: 'function_call',
      status,
      arguments: done ? answer.text : '',
      call_id: completion.toolCallId,
      name: answer.toolName,
    };
  }
  return {
    id: messageId(completion),
    type: 'message',
    status,
    content: done ? [outputText(answer.text)] : [],
    role: 'assistant',
  };
}

function outputText(text: string) {
  return { type: 'output_text', annotations: [], logprobs: [], text };
}

function messageId(completion: Completion): string {
  return `msg_${completion.id.slice(5)}`;
}

function responseObject(completion: Completion, state: 'in_progress' | 'done') {
  const { request, answer } = completion;
  const done = state === 'done';
  return {
    id: completion.id,
    object: 'response',
    created_at: completion.created,
    status: done ? (answer.truncated ? 'incomplete' : 'completed') : 'in_progress',
    background: false,
    error: null,
    incomplete_details: done && answer.truncated ? { reason: 'max_output_tokens' } : null,
    instructions: request.instructions ?? null,
    max_output_tokens: request.max_output_tokens ?? null,
    model: completion.model,
    output: done ? [outputItem(completion, true)] : [],
    parallel_tool_calls: true,
    previous_response_id: null,
    reasoning: { effort: null, summary: null },
    service_tier: 'default',
    store: request.store ?? true,
    temperature: request.temperature ?? 1,
    text: request.text ?? { format: { type: 'text' } },
    tool_choice: request.tool_choice ?? 'auto',
    tools: request.tools ?? [],
    top_p: request.top_p ?? 1,
    truncation: 'disabled',
    usage: done ? usageJson(completion) : null,
    user: null,
    metadata: request.metadata ?? {},
  };
}

function responsesBody(completion: Completion): string {
  return JSON.stringify(responseObject(completion, 'done'));
}

function responsesStream(completion: Completion): StreamEncoder {
  const { answer } = completion;
  const isTool = answer.kind === 'tool';
  const itemId = isTool ? `fc_${completion.id.slice(5)}` : messageId(completion);
  let sequence = 0;
  const event = (type: string, fields: Record<string, unknown>) =>
    sse(JSON.stringify({ type, ...fields, sequence_number: sequence++ }), type);
  const deltaType = isTool
    ? 'response.function_call_arguments.delta'
    : 'response.output_text.delta';
  // Fixed keys first so each piece costs one JSON.stringify of the piece text.
  const pieceHead = isTool
    ? `{"type":"${deltaType}","item_id":"${itemId}","output_index":0,"delta":`
    : `{"type":"${deltaType}","item_id":"${itemId}","output_index":0,"content_index":0,"logprobs":[],"delta":`;

  return {
    open: () => {
      const response = responseObject(completion, 'in_progress');
      let text =
        event('response.created', { response }) +
        event('response.in_progress', { response }) +
        event('response.output_item.added', {
          output_index: 0,
          item: outputItem(completion, false),
        });
      if (!isTool) {
        text += event('response.content_part.added', {
          item_id: itemId,
          output_index: 0,
          content_index: 0,
          part: outputText(''),
        });
      }
      return text;
    },
    piece: (text) =>
      sse(`${pieceHead}${JSON.stringify(text)},"sequence_number":${sequence++}}`, deltaType),
    malformed: () => sse(`${pieceHead}"`, deltaType),
    error: (status) =>
      event('error', {
        code: status === 429 ? 'rate_limit_exceeded' : 'server_error',
        message: 'The server had an error while processing your request (fake-llm).',
        param: null,
      }),
    close: () => {
      let text: string;
      if (isTool) {
        text = event('response.function_call_arguments.done', {
          item_id: itemId,
          output_index: 0,
          arguments: answer.text,
        });
      } else {
        text =
          event('response.output_text.done', {
            item_id: itemId,
            output_index: 0,
            content_index: 0,
            logprobs: [],
            text: answer.text,
          }) +
          event('response.content_part.done', {
            item_id: itemId,
            output_index: 0,
            content_index: 0,
            part: outputText(answer.text),
          });
      }
      text += event('response.output_item.done', {
        output_index: 0,
        item: outputItem(completion, true),
      });
      const type = answer.truncated ? 'response.incomplete' : 'response.completed';
      return text + event(type, { response: responseObject(completion, 'done') });
    },
  };
}

export const openAiResponsesProtocol: Protocol = {
  parseRequest: parseResponsesRequest,
  idPrefix: 'resp_',
  toolIdPrefix: 'call_',
  body: responsesBody,
  stream: responsesStream,
};
