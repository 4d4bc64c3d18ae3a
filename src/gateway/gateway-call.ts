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

/** Our finish reasons in each wire format's words; anything else is a normal stop. */
const FINISH_WORDS: Record<'openai' | 'anthropic', Partial<Record<FinishReason, string>>> = {
  openai: { length: 'length', 'tool-calls': 'tool_calls', 'content-filter': 'content_filter' },
  anthropic: { length: 'max_tokens', 'tool-calls': 'tool_use' },
};

export const openAiFinishReason = (reason: FinishReason): string =>
  FINISH_WORDS.openai[reason] ?? 'stop';

export const anthropicStopReason = (reason: FinishReason): string =>
  FINISH_WORDS.anthropic[reason] ?? 'end_turn';
