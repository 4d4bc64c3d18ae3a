import { modelPriceInfo } from '../llm/llm-prices.ts';
import type { LlmMessage, LlmToolDefinition } from '../llm/llm-provider.ts';
import { estimateInputTokens, INPUT_SAFETY_FACTOR, PER_IMAGE_TOKENS } from '../llm/llm-tokens.ts';

/**
 * Fitting a reply's context to the model's window by a token count. Tokens are counted with the
 * o200k tokenizer (llm-tokens.ts), exact for current OpenAI models, scaled by its safety factor
 * for every model so the count stays an upper bound for others (Claude counts ~20–30 % more).
 * A model the price catalog does not know gets DEFAULT_CONTEXT_WINDOW, a conservative window.
 */
export const DEFAULT_CONTEXT_WINDOW = 8_192;
const CATALOGS = ['openai', 'anthropic', 'google', 'mistral', 'groq'] as const;

/** The model's context window from the catalog (the first catalog that knows it). */
export function contextWindowOf(model: string, at = new Date()): number | undefined {
  for (const catalogProviderId of CATALOGS) {
    const window = modelPriceInfo(model, {
      catalogProviderId,
      override: undefined,
      at,
    }).contextWindow;
    if (window !== null) return window;
  }
  return undefined;
}

export interface FittedContext {
  messages: LlmMessage[];
  /** Chat messages left out from the front (0: everything fits). */
  dropped: number;
  /** An upper bound of the tokens sent (bytes when they fit, else the tokenizer's count). */
  tokens: number;
}

/**
 * Keeps every system message (instructions, summary) and the newest turns that fit in
 * `window - outputReserve`; the newest turn (the question) is always kept.
 */
export async function fitContext(
  parts: { system: LlmMessage[]; turns: LlmMessage[][] },
  options: { window: number; outputReserve: number; tools?: readonly LlmToolDefinition[] },
): Promise<FittedContext> {
  const budget = options.window - options.outputReserve;
  // A token is never less than a UTF-8 byte: when the bytes already fit, so do the tokens,
  // and the reply need not wait for the tokenizer (most replies of short threads).
  // An image is a short reference here but PER_IMAGE_TOKENS to the model (docs/chat.md "Images").
  const bytes =
    Buffer.byteLength(JSON.stringify([parts, options.tools ?? []])) +
    imagesIn(parts.turns.flat()) * PER_IMAGE_TOKENS;
  if (Math.ceil(bytes * INPUT_SAFETY_FACTOR) <= budget) {
    const messages = [...parts.system, ...parts.turns.flat()];
    return { messages, dropped: 0, tokens: Math.ceil(bytes * INPUT_SAFETY_FACTOR) };
  }
  let used = await estimateInputTokens(parts.system, undefined, { tools: options.tools });
  const kept: LlmMessage[][] = [];
  for (let index = parts.turns.length - 1; index >= 0; index--) {
    const turn = parts.turns[index]!;
    const tokens = await estimateInputTokens(turn, undefined);
    if (kept.length > 0 && used + tokens > budget) break;
    used += tokens;
    kept.unshift(turn);
  }
  return {
    messages: [...parts.system, ...kept.flat()],
    dropped: parts.turns.length - kept.length,
    tokens: used,
  };
}

const imagesIn = (messages: readonly LlmMessage[]) =>
  messages.reduce(
    (count, message) =>
      count +
      (message.role === 'user' && typeof message.content !== 'string'
        ? message.content.filter((part) => part.type === 'image').length
        : 0),
    0,
  );
