import type { ModelInfo } from '../api/llm-api.ts';

/** Plain-text descriptions of a model's price and context window for the model picker. */

type Priced = Pick<
  ModelInfo,
  | 'inputUsdPerMtok'
  | 'outputUsdPerMtok'
  | 'cacheReadUsdPerMtok'
  | 'priceSource'
  | 'tiered'
  | 'contextWindow'
>;

const usd = new Intl.NumberFormat('en-US', {
  style: 'currency',
  currency: 'USD',
  minimumFractionDigits: 2,
  maximumFractionDigits: 4,
});

/** A rate in USD per million tokens: $0.15, $0.60, $0.075, $10.00; unknown is '?'. */
export function formatRate(value: number | null): string {
  return value === null ? '?' : usd.format(value);
}

/** A context window in tokens, short: 128K, 200K, 1M, 1.5M; unknown is '—'. */
export function formatContextWindow(tokens: number | null): string {
  if (tokens === null) return '—';
  if (tokens >= 1_000_000) return `${Number((tokens / 1_000_000).toFixed(1))}M`;
  if (tokens >= 1_000) return `${Math.round(tokens / 1_000)}K`;
  return String(tokens);
}

/** "$0.15 / $0.60 per 1M tokens", "from $3.00 / $15.00 …" for tiered prices, or "price unknown". */
export function formatPrice(model: Priced): string {
  if (model.inputUsdPerMtok === null && model.outputUsdPerMtok === null) return 'price unknown';
  const rates = `${formatRate(model.inputUsdPerMtok)} / ${formatRate(model.outputUsdPerMtok)} per 1M tokens`;
  return model.tiered ? `from ${rates}` : rates;
}

/** One option of the picker: "gpt-4o-mini — $0.15 / $0.60 per 1M tokens · 128K context". */
export function modelOptionLabel(model: Priced & { id: string }): string {
  const context =
    model.contextWindow === null
      ? 'context unknown'
      : `${formatContextWindow(model.contextWindow)} context`;
  return `${model.id} — ${formatPrice(model)} · ${context}`;
}

/** The chosen model in a sentence, with the cache-read rate and where the prices come from. */
export function modelDetails(model: Priced): string {
  const parts: string[] = [];
  if (model.inputUsdPerMtok === null && model.outputUsdPerMtok === null) {
    parts.push('Price unknown: its cost is not counted until you set a price in Settings.');
  } else {
    const cache =
      model.cacheReadUsdPerMtok === null
        ? ''
        : `, cached input ${formatRate(model.cacheReadUsdPerMtok)}`;
    parts.push(
      `Input ${formatRate(model.inputUsdPerMtok)}${cache}, output ${formatRate(model.outputUsdPerMtok)} per 1M tokens${model.tiered ? ' (dearer for very long prompts)' : ''}, ${model.priceSource === 'override' ? "from this project's price override" : 'from the genai-prices catalog'}.`,
    );
  }
  parts.push(
    model.contextWindow === null
      ? 'Context window unknown.'
      : `Context window ${model.contextWindow.toLocaleString('en-US')} tokens.`,
  );
  return parts.join(' ');
}

/** Models that do not answer chat requests (embeddings, speech, images, moderation, legacy completions). */
const NOT_CHAT =
  /(embed|whisper|tts|dall-e|gpt-image|davinci|babbage|moderation|transcri|realtime|rerank|-audio|audio-|image-|computer-use)/i;

/** Whether an AI column could use this model: a chat model, as far as its id tells. */
export function isChatModel(id: string): boolean {
  return !NOT_CHAT.test(id);
}

/** Small, cheap chat models a first column is well served by, in order of preference. */
const PREFERRED = [
  'gpt-4o-mini',
  'gpt-4.1-mini',
  'claude-haiku-4-5',
  'claude-3-5-haiku',
  'gemini-2.0-flash',
  'llama-3.1-8b-instruct',
];

/**
 * The model to preselect: a preferred small model when offered, else the first chat model
 * with a known price, else the first chat model; undefined when there is none.
 */
export function defaultModel<T extends { id: string; inputUsdPerMtok?: number | null }>(
  models: readonly T[],
): T | undefined {
  const chat = models.filter((model) => isChatModel(model.id));
  for (const preferred of PREFERRED) {
    const match = chat.find((model) => model.id.toLowerCase().includes(preferred));
    if (match) return match;
  }
  return (
    chat.find((model) => model.inputUsdPerMtok !== null && model.inputUsdPerMtok !== undefined) ??
    chat[0]
  );
}
