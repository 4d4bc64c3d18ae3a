/** The prices a model shows (modelPriceInfo, and the models route), as tests expect them. */

/** A model without a known price: unknown, never 0. */
export const UNPRICED_MODEL = {
  inputUsdPerMtok: null,
  outputUsdPerMtok: null,
  cacheReadUsdPerMtok: null,
  priceSource: null,
  tiered: false,
  contextWindow: null,
} as const;

/** genai-prices' gpt-4o-mini: $0.15 in, $0.60 out, $0.075 cache read, 128K tokens. */
export const GPT_4O_MINI_CATALOG_PRICE = {
  inputUsdPerMtok: 0.15,
  outputUsdPerMtok: 0.6,
  cacheReadUsdPerMtok: 0.075,
  priceSource: 'catalog',
  tiered: false,
  contextWindow: 128_000,
} as const;
