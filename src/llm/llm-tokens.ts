import type { JsonSchema, LlmMessage, LlmToolDefinition } from './llm-provider.ts';

/**
 * Token estimates for budget reservations and for partial usage of calls that ended before
 * the provider reported usage. gpt-tokenizer (o200k) is exact for current OpenAI models; other
 * vendors tokenize differently (Claude counts ~20–30 % more for English), so input estimates
 * are scaled by INPUT_SAFETY_FACTOR to stay an upper bound for the reservation.
 */
export const INPUT_SAFETY_FACTOR = 1.3;
const PER_MESSAGE_OVERHEAD = 4;
/**
 * A 512×512 image is ~255 tokens on OpenAI and ~350 on Anthropic; reserve generously (a
 * 1568×1568 image is ~1,600 on Anthropic, OpenAI's high detail tops out near 1,100).
 */
export const PER_IMAGE_TOKENS = 1_600;

type CountTokens = (text: string) => number;
let counter: CountTokens | undefined;
let loading: Promise<CountTokens> | undefined;

/** Loads the tokenizer once (~200 ms, its merge tables); later calls are synchronous-fast. */
export async function loadTokenCounter(): Promise<CountTokens> {
  if (counter) return counter;
  loading ??= import('gpt-tokenizer').then((module) => {
    counter = (text: string) => module.countTokens(text);
    return counter;
  });
  return loading;
}

/**
 * Estimate of a request's input tokens: an upper bound by default (for reservations), or
 * the plain o200k count with `safety: false` (for usage of a call cut short).
 */
export async function estimateInputTokens(
  messages: readonly LlmMessage[],
  outputSchema: JsonSchema | undefined,
  options: { safety?: boolean; tools?: readonly LlmToolDefinition[] | undefined } = {},
): Promise<number> {
  const count = await loadTokenCounter();
  const countJson = (value: unknown) =>
    value === undefined ? 0 : count(JSON.stringify(value) ?? '');
  let tokens = 3;
  for (const message of messages) {
    tokens += PER_MESSAGE_OVERHEAD;
    if (typeof message.content === 'string') tokens += count(message.content);
    else {
      for (const part of message.content) {
        switch (part.type) {
          case 'text':
          case 'reasoning':
            tokens += count(part.text);
            break;
          case 'image':
            tokens += PER_IMAGE_TOKENS;
            break;
          case 'tool-call':
            tokens += count(part.toolName) + countJson(part.input) + PER_MESSAGE_OVERHEAD;
            break;
          case 'tool-result':
            tokens += countJson(part.output) + PER_MESSAGE_OVERHEAD;
            break;
        }
      }
    }
  }
  if (outputSchema !== undefined) tokens += count(JSON.stringify(outputSchema)) + 20;
  // Providers render tool definitions into the prompt (names, descriptions, schemas).
  if (options.tools !== undefined && options.tools.length > 0)
    tokens += countJson(options.tools) + 20;
  return options.safety === false ? tokens : Math.ceil(tokens * INPUT_SAFETY_FACTOR);
}

/** Tokens of text the model produced (for streams cut short). */
export async function countOutputTokens(text: string): Promise<number> {
  if (text === '') return 0;
  const count = await loadTokenCounter();
  return count(text);
}
