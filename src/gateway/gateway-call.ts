import type {
  FinishReason,
  JsonSchema,
  LlmMessage,
  LlmParameters,
  LlmToolChoice,
  LlmToolDefinition,
  TokenUsage,
} from '../llm/llm-provider.ts';
import { type AppError, validationError } from '../platform/app-error.ts';

/**
 * What either wire format (OpenAI, Anthropic) asks the gateway for, in the LLM port's terms.
 * The wire modules (gateway-openai.ts, gateway-anthropic.ts) translate to and from it; the
 * service never sees a vendor field.
 */
export interface GatewayCallInput {
  /** The name on the key's model list (an alias or `<kind>/<model>`). */
  model: string;
  messages: LlmMessage[];
  parameters: LlmParameters;
  outputSchema: JsonSchema | undefined;
  tools: LlmToolDefinition[] | undefined;
  toolChoice: LlmToolChoice | undefined;
  stream: boolean;
}

/** Where a wire field failed: `messages.2.tool_call_id`, and why. */
export function fieldError(path: (string | number)[], message: string): AppError {
  const where = path.join('.');
  return validationError(`Invalid ${where}: ${message}`, [{ path: where, message }]);
}

/** zod issues → one VALIDATION_ERROR naming the first field (and listing all). */
export function issuesError(issues: readonly { path: PropertyKey[]; message: string }[]): AppError {
  const list = issues.map((issue) => ({
    path: issue.path.map(String).join('.'),
    message: issue.message,
  }));
  const first = list[0];
  return validationError(
    first ? `Invalid ${first.path || 'body'}: ${first.message}` : 'Invalid request body',
    list,
  );
}

/** JSON arguments of a tool call as a client sent them back (a string of JSON). */
export function parseToolArguments(text: string, path: (string | number)[]): unknown {
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text);
  } catch {
    throw fieldError(path, 'is not valid JSON');
  }
}

/** Input tokens as the wire formats count them: every input bucket together. */
export function inputTokens(usage: TokenUsage): number {
  return (
    (usage.uncachedInputTokens ?? 0) + (usage.cacheReadTokens ?? 0) + (usage.cacheWriteTokens ?? 0)
  );
}

export function openAiFinishReason(reason: FinishReason): string {
  switch (reason) {
    case 'length':
      return 'length';
    case 'tool-calls':
      return 'tool_calls';
    case 'content-filter':
      return 'content_filter';
    default:
      return 'stop';
  }
}

export function anthropicStopReason(reason: FinishReason): string {
  switch (reason) {
    case 'length':
      return 'max_tokens';
    case 'tool-calls':
      return 'tool_use';
    default:
      return 'end_turn';
  }
}
