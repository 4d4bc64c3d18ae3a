import { calcPrice, findProvider } from '@pydantic/genai-prices';
import { describe, expect, it } from 'vitest';
import { GPT_4O_MINI_CATALOG_PRICE, UNPRICED_MODEL } from './llm-price-test-helpers.ts';
import {
  costNano,
  maxCostNano,
  modelPriceInfo,
  type PriceSource,
  ratesFromUsd,
  usdPerMtokToNano,
} from './llm-prices.ts';
import type { TokenUsage } from './llm-provider.ts';

const at = new Date('2026-11-21T00:00:00Z');
const openai: PriceSource = { catalogProviderId: 'openai', override: undefined, at };
const anthropic: PriceSource = { catalogProviderId: 'anthropic', override: undefined, at };

const usage = (partial: Partial<TokenUsage>): TokenUsage => ({
  uncachedInputTokens: undefined,
  cacheReadTokens: undefined,
  cacheWriteTokens: undefined,
  outputTokens: undefined,
  reasoningTokens: undefined,
  ...partial,
});

describe('costNano', () => {
  it.each([
    // gpt-4o-mini: input $0.15, cached input $0.075, output $0.60 per Mtok.
    [
      'gpt-4o-mini plain',
      'gpt-4o-mini',
      openai,
      usage({ uncachedInputTokens: 1_000, outputTokens: 100 }),
      1_000 * 150 + 100 * 600,
    ],
    [
      'gpt-4o-mini with cache reads',
      'gpt-4o-mini',
      openai,
      usage({ uncachedInputTokens: 800, cacheReadTokens: 200, outputTokens: 100 }),
      800 * 150 + 200 * 75 + 100 * 600,
    ],
    // claude-sonnet-4: input $3, cache write $3.75, cache read $0.30, output $15 per Mtok.
    [
      'claude-sonnet-4 with both cache buckets',
      'claude-sonnet-4-20250514',
      anthropic,
      usage({
        uncachedInputTokens: 5,
        cacheReadTokens: 0,
        cacheWriteTokens: 4_735,
        outputTokens: 255,
      }),
      5 * 3_000 + 4_735 * 3_750 + 255 * 15_000,
    ],
  ])('%s', (_name, model, source, tokens, expected) => {
    expect(costNano(tokens, model, source)).toBe(expected);
  });

  it('is null for a model the catalog does not know, never 0', () => {
    expect(
      costNano(usage({ uncachedInputTokens: 10, outputTokens: 10 }), 'my-llama', openai),
    ).toBeNull();
    expect(
      costNano(usage({ uncachedInputTokens: 10, outputTokens: 10 }), 'gpt-4o-mini', {
        ...openai,
        catalogProviderId: undefined,
      }),
    ).toBeNull();
  });

  it('is null when the provider did not report the tokens', () => {
    expect(costNano(usage({ outputTokens: 10 }), 'gpt-4o-mini', openai)).toBeNull();
    expect(costNano(usage({ uncachedInputTokens: 10 }), 'gpt-4o-mini', openai)).toBeNull();
  });

  it('uses an override exactly, in integers, with cache rates defaulting to the input rate', () => {
    const override = {
      inputNanoPerMtok: usdPerMtokToNano(0.2),
      outputNanoPerMtok: usdPerMtokToNano(0.4),
      cacheReadNanoPerMtok: usdPerMtokToNano(0.05),
      cacheWriteNanoPerMtok: undefined,
    };
    const cost = costNano(
      usage({ uncachedInputTokens: 3, cacheReadTokens: 7, cacheWriteTokens: 11, outputTokens: 13 }),
      'anything',
      { catalogProviderId: undefined, override, at },
    );
    expect(cost).toBe(3 * 200 + 7 * 50 + 11 * 200 + 13 * 400);
  });

  it('rounds sub-nano costs half up', () => {
    const override = {
      inputNanoPerMtok: 1_500_000,
      outputNanoPerMtok: 0,
      cacheReadNanoPerMtok: undefined,
      cacheWriteNanoPerMtok: undefined,
    };
    // 1 token × 1.5 nano → 2
    expect(
      costNano(usage({ uncachedInputTokens: 1, outputTokens: 0 }), 'm', {
        catalogProviderId: undefined,
        override,
        at,
      }),
    ).toBe(2);
  });
});

describe('ratesFromUsd', () => {
  it.each([
    {
      usd: { inputUsdPerMtok: 0.2, outputUsdPerMtok: 0.4 },
      rates: [200_000_000, 400_000_000, undefined, undefined],
    },
    {
      usd: {
        inputUsdPerMtok: 1,
        outputUsdPerMtok: 2,
        cacheReadUsdPerMtok: 0,
        cacheWriteUsdPerMtok: null,
      },
      rates: [1_000_000_000, 2_000_000_000, 0, undefined],
    },
  ])('$usd → nano-USD rates', ({ usd, rates }) => {
    const result = ratesFromUsd(usd);
    expect([
      result.inputNanoPerMtok,
      result.outputNanoPerMtok,
      result.cacheReadNanoPerMtok,
      result.cacheWriteNanoPerMtok,
    ]).toEqual(rates);
  });
});

describe('maxCostNano', () => {
  it('charges every input token at the dearest input rate plus the whole output allowance', () => {
    // claude-sonnet-4: cache write ($3.75) is dearer than input ($3).
    expect(maxCostNano(1_000, 100, 'claude-sonnet-4-20250514', anthropic)).toBe(
      1_000 * 3_750 + 100 * 15_000,
    );
    expect(maxCostNano(1_000, 100, 'gpt-4o-mini', openai)).toBe(1_000 * 150 + 100 * 600);
  });

  it('is null when the price is unknown', () => {
    expect(maxCostNano(1_000, 100, 'my-llama', openai)).toBeNull();
  });
});

describe('catalog prices', () => {
  it.each([
    ['openai', 'gpt-4o-mini'],
    ['openai', 'gpt-4.1'],
    ['anthropic', 'claude-sonnet-4-20250514'],
    ['anthropic', 'claude-3-5-haiku-latest'],
    ['google', 'gemini-1.5-pro'], // tiered
  ])('%s %s agrees with genai-prices to the nano-USD', (providerId, model) => {
    const tokens = {
      uncachedInputTokens: 1_234,
      cacheReadTokens: 321,
      cacheWriteTokens: 77,
      outputTokens: 456,
      reasoningTokens: undefined,
    };
    const expected = calcPrice(
      {
        input_tokens: 1_234 + 321 + 77,
        cache_read_tokens: 321,
        cache_write_tokens: 77,
        output_tokens: 456,
      },
      model,
      { providerId, timestamp: at },
    );
    expect(
      costNano(tokens, model, { catalogProviderId: providerId, override: undefined, at }),
    ).toBe(Math.round((expected?.total_price ?? Number.NaN) * 1e9));
  });
});

describe('tiered catalog prices', () => {
  // Every provider of the catalog; each one's models with a tiered rate in any dated price set.
  const providers = (
    'anthropic arcee avian aws azure baseten cerebras cloudflare cohere cursor deepseek ' +
    'doubleword fireworks github-copilot google groq minimax mistral modal moonshotai novita ' +
    'openai openrouter ovhcloud perplexity quicksilverpro together typesafe voyageai x-ai zai ' +
    'zhipuai'
  ).split(' ');
  const tiered = providers.flatMap((providerId) =>
    (findProvider({ providerId })?.models ?? []).flatMap((model) => {
      const sets = Array.isArray(model.prices) ? model.prices : [{ prices: model.prices }];
      const isTiered = sets.some((set) =>
        Object.values(set.prices).some((rate) => typeof rate === 'object'),
      );
      if (!isTiered) return [];
      const starts = new Set<number>();
      const dates = ['2024-01-01T00:00:00Z', '2026-12-06T12:00:00Z'];
      for (const set of sets) {
        for (const rate of Object.values(set.prices)) {
          if (typeof rate === 'object') for (const tier of rate.tiers) starts.add(tier.start);
        }
        const constraint = 'constraint' in set ? set.constraint : undefined;
        if (constraint?.type === 'start_date') {
          const start = new Date(constraint.start_date).getTime();
          dates.push(new Date(start - 1_000).toISOString(), new Date(start).toISOString());
        }
      }
      return [{ providerId, model: model.id, starts: [...starts], dates }];
    }),
  );

  it('finds the tiered models of the catalog', () => {
    expect(tiered.length).toBeGreaterThanOrEqual(50);
    expect(tiered.map((m) => m.model)).toContain('claude-sonnet-4-5');
  });

  it('costs exactly what genai-prices computes, below, at and above every tier start', () => {
    let compared = 0;
    for (const { providerId, model, starts, dates } of tiered) {
      const totals = [1, 1_234, ...starts.flatMap((start) => [start - 1, start, start + 1])];
      for (const date of dates) {
        const source: PriceSource = {
          catalogProviderId: providerId,
          override: undefined,
          at: new Date(date),
        };
        for (const total of totals) {
          const third = Math.floor(total / 3);
          // Every bucket mix: all uncached, reads, writes, both; no output and some.
          const mixes = [
            [total, 0, 0],
            [total - third, third, 0],
            [total - third, 0, third],
            [total - 2 * third, third, third],
            [0, total, 0],
            [0, 0, total],
          ];
          for (const [uncached = 0, cacheRead = 0, cacheWrite = 0] of mixes) {
            for (const output of [0, 1, 7_777]) {
              const expected = calcPrice(
                {
                  input_tokens: uncached + cacheRead + cacheWrite,
                  cache_read_tokens: cacheRead,
                  cache_write_tokens: cacheWrite,
                  output_tokens: output,
                },
                model,
                { providerId, timestamp: source.at },
              );
              const tokens = usage({
                uncachedInputTokens: uncached,
                cacheReadTokens: cacheRead,
                cacheWriteTokens: cacheWrite,
                outputTokens: output,
              });
              const got = costNano(tokens, model, source);
              const want = expected === null ? null : Math.round(expected.total_price * 1e9);
              const where = { providerId, model, date, uncached, cacheRead, cacheWrite, output };
              if (got !== want) expect({ ...where, got }).toEqual({ ...where, got: want });
              compared++;
            }
          }
        }
      }
    }
    expect(compared).toBeGreaterThan(10_000);
  });
});

describe('modelPriceInfo', () => {
  it.each([
    ['a flat catalog price', 'gpt-4o-mini', openai, GPT_4O_MINI_CATALOG_PRICE],
    [
      // claude-sonnet-4-5: $3 / $15 up to 200K prompt tokens, dearer above.
      'a tiered catalog price, as its first tier',
      'claude-sonnet-4-5',
      anthropic,
      {
        inputUsdPerMtok: 3,
        outputUsdPerMtok: 15,
        cacheReadUsdPerMtok: 0.3,
        priceSource: 'catalog',
        tiered: true,
        contextWindow: 200_000,
      },
    ],
    [
      'an override, which wins over the catalog and keeps its context window',
      'gpt-4o-mini',
      {
        ...openai,
        override: {
          inputNanoPerMtok: usdPerMtokToNano(1.25),
          outputNanoPerMtok: usdPerMtokToNano(5),
          cacheReadNanoPerMtok: undefined,
          cacheWriteNanoPerMtok: undefined,
        },
      },
      {
        inputUsdPerMtok: 1.25,
        outputUsdPerMtok: 5,
        cacheReadUsdPerMtok: null,
        priceSource: 'override',
        tiered: false,
        contextWindow: 128_000,
      },
    ],
    ['a model the catalog does not know', 'my-fine-tune', openai, UNPRICED_MODEL],
    [
      'a connection without a catalog',
      'gpt-4o-mini',
      { catalogProviderId: undefined, override: undefined, at },
      UNPRICED_MODEL,
    ],
  ] as const)('%s', (_, model, source, expected) => {
    expect(modelPriceInfo(model, source)).toEqual(expected);
  });
});
