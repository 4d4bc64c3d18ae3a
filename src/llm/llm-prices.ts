import { calcPrice, type ModelPrice, type TieredPrices } from '@pydantic/genai-prices';
import type { TokenUsage } from './llm-provider.ts';

/**
 * Prices. The catalog is @pydantic/genai-prices (dated prices, tiers, cache read/write);
 * a project can override it per model, e.g. for self-hosted or missing models. Costs are
 * integer nano-USD (1e-9 USD). A model with no known price costs `null` — unknown, never 0.
 */

/** Override rates in nano-USD per million tokens (so $0.15 / Mtok is 150_000_000). */
export interface PriceRates {
  inputNanoPerMtok: number;
  outputNanoPerMtok: number;
  /** Defaults to the input rate. */
  cacheReadNanoPerMtok: number | undefined;
  /** Defaults to the input rate. */
  cacheWriteNanoPerMtok: number | undefined;
}

export interface PriceSource {
  /** genai-prices provider id ('openai', 'anthropic', 'groq', …), or undefined: no catalog. */
  catalogProviderId: string | undefined;
  /** A project override for this model, which wins over the catalog. */
  override: PriceRates | undefined;
  /** When the call happened: the catalog's dated prices apply. */
  at: Date;
}

const USD_TO_NANO = 1e9;

function nanoFromUsd(usd: number): number {
  return Math.round(usd * USD_TO_NANO);
}

/** tokens × nano-per-Mtok / 1e6, exact in integers, rounded half up. */
function bucketCost(tokens: number, nanoPerMtok: number): bigint {
  return BigInt(tokens) * BigInt(Math.round(nanoPerMtok));
}

function costFromRates(usage: Required<NumericUsage>, rates: PriceRates): number {
  const cacheRead = rates.cacheReadNanoPerMtok ?? rates.inputNanoPerMtok;
  const cacheWrite = rates.cacheWriteNanoPerMtok ?? rates.inputNanoPerMtok;
  const total =
    bucketCost(usage.uncached, rates.inputNanoPerMtok) +
    bucketCost(usage.cacheRead, cacheRead) +
    bucketCost(usage.cacheWrite, cacheWrite) +
    bucketCost(usage.output, rates.outputNanoPerMtok);
  return Number((total + 500_000n) / 1_000_000n);
}

interface NumericUsage {
  uncached: number;
  cacheRead: number;
  cacheWrite: number;
  output: number;
}

/**
 * The buckets as numbers, or undefined when the cost cannot be known: the uncached input or
 * the output count is missing. A missing cache bucket is read as none (OpenAI never reports
 * cache writes; Anthropic always reports both).
 */
function numericUsage(usage: TokenUsage): NumericUsage | undefined {
  if (usage.uncachedInputTokens === undefined || usage.outputTokens === undefined) return undefined;
  return {
    uncached: usage.uncachedInputTokens,
    cacheRead: usage.cacheReadTokens ?? 0,
    cacheWrite: usage.cacheWriteTokens ?? 0,
    output: usage.outputTokens,
  };
}

/** Per-Mtok USD rates of a model whose prices are flat (no tiers), as genai-prices has them. */
interface FlatRates {
  input: number;
  output: number;
  cacheRead: number | undefined;
  cacheWrite: number | undefined;
}

/** A catalog rate in USD per Mtok: flat, or tiered by the request's total input tokens. */
type CatalogRate = number | TieredPrices;

type Bucket = keyof NumericUsage;

/**
 * The rates of a model with tiered prices, kept so that a cost is arithmetic rather than a
 * genai-prices call per response. genai-prices charges each unit at its base rate, replaced by
 * every tier whose `start` is below the total input tokens, and sums the input units in the
 * catalog's key order: the same order and the same floating-point steps here give the same
 * nano-USD (llm-prices.test.ts compares every tiered catalog model with calcPrice).
 */
interface TieredRates {
  /** The input-side units in the catalog's order, each with the buckets it charges. */
  input: { rate: CatalogRate; buckets: Bucket[] }[];
  output: CatalogRate | undefined;
}

/** What the catalog knows of one model at one time. */
interface CatalogEntry {
  /** Set when every rate is flat: costs are plain arithmetic. */
  flat: FlatRates | undefined;
  /** Set when the rates are not flat (some tiered) and the model has no per-request price. */
  tieredRates: TieredRates | undefined;
  /** List rates (the first tier's for tiered prices); undefined where the catalog has none. */
  list: { input: number | undefined; output: number | undefined; cacheRead: number | undefined };
  tiered: boolean;
  contextWindow: number | undefined;
}

type Resolved = CatalogEntry | null;

/** A rate as a number: flat as it is, tiered as its base (first-tier) rate. */
function baseRate(value: unknown): number | undefined {
  if (typeof value === 'number') return value;
  const base = (value as { base?: unknown } | null | undefined)?.base;
  return typeof base === 'number' ? base : undefined;
}

/**
 * What `tokens` cost at `rate` in USD, with genai-prices' own floating-point steps: a flat unit
 * is rate × tokens / 1e6; a tiered one is (rate × tokens / 1e6) × 1e6 / 1e6.
 */
function unitUsd(rate: CatalogRate | undefined, tokens: number, totalInput: number): number {
  if (rate === undefined) return 0;
  if (typeof rate === 'number') return (rate * tokens) / 1e6;
  if (tokens <= 0) return 0;
  let price = rate.base;
  for (const tier of rate.tiers) if (totalInput > tier.start) price = tier.price;
  return (((price * tokens) / 1e6) * 1e6) / 1e6;
}

function tieredUsd(usage: NumericUsage, rates: TieredRates): number {
  const totalInput = usage.uncached + usage.cacheRead + usage.cacheWrite;
  let input = 0;
  for (const unit of rates.input) {
    let tokens = 0;
    for (const bucket of unit.buckets) tokens += usage[bucket];
    input += unitUsd(unit.rate, tokens, totalInput);
  }
  return input + unitUsd(rates.output, usage.output, totalInput);
}

/**
 * The tiered rates of a catalog price, or undefined when genai-prices must price it: a
 * per-request price. Units our usage never fills (audio, 1-hour cache writes, searches) add 0.
 * A cache bucket without a rate of its own is charged as input, as genai-prices does.
 */
function tieredRatesOf(price: ModelPrice): TieredRates | undefined {
  if ('requests_kcount' in price) return undefined;
  const input: TieredRates['input'] = [];
  const uncached: Bucket[] = ['uncached'];
  if (price.cache_read_mtok === undefined) uncached.push('cacheRead');
  if (price.cache_write_mtok === undefined) uncached.push('cacheWrite');
  const buckets: Record<string, Bucket[]> = {
    input_mtok: uncached,
    cache_read_mtok: ['cacheRead'],
    cache_write_mtok: ['cacheWrite'],
  };
  for (const [key, value] of Object.entries(price)) {
    const charged = buckets[key];
    if (charged && value !== undefined) input.push({ rate: value, buckets: charged });
  }
  return { input, output: price.output_mtok };
}

// The catalog lookup (matching the model name against every model of the provider) costs far
// more than the arithmetic; its answer changes only with the date, so it is kept per hour.
const resolved = new Map<string, Resolved>();
const HOUR = 3_600_000;

function resolveCatalog(providerId: string, model: string, at: Date): Resolved {
  const key = `${providerId}\u0000${model}\u0000${Math.floor(at.getTime() / HOUR)}`;
  const hit = resolved.get(key);
  if (hit !== undefined) return hit;
  let answer: Resolved = null;
  try {
    const result = calcPrice({ input_tokens: 1, output_tokens: 1 }, model, {
      providerId,
      timestamp: at,
    });
    if (result) {
      const price = result.model_price;
      const rate = (name: string) => price[name];
      const numbers = ['input_mtok', 'output_mtok', 'cache_read_mtok', 'cache_write_mtok'].every(
        (name) => rate(name) === undefined || typeof rate(name) === 'number',
      );
      const flat =
        numbers &&
        typeof rate('input_mtok') === 'number' &&
        typeof rate('output_mtok') === 'number';
      const contextWindow = result.model.context_window;
      answer = {
        flat: flat
          ? {
              input: rate('input_mtok') as number,
              output: rate('output_mtok') as number,
              cacheRead: rate('cache_read_mtok') as number | undefined,
              cacheWrite: rate('cache_write_mtok') as number | undefined,
            }
          : undefined,
        tieredRates: flat ? undefined : tieredRatesOf(price),
        list: {
          input: baseRate(rate('input_mtok')),
          output: baseRate(rate('output_mtok')),
          cacheRead: baseRate(rate('cache_read_mtok')),
        },
        tiered: !numbers,
        contextWindow:
          typeof contextWindow === 'number' && contextWindow > 0 ? contextWindow : undefined,
      };
    }
  } catch {
    answer = null;
  }
  if (resolved.size >= 2_000) resolved.clear();
  resolved.set(key, answer);
  return answer;
}

/** The catalog's entry for `model` at `source.at`; null without a catalog or a match. */
function catalogEntry(model: string, source: PriceSource): Resolved {
  if (source.catalogProviderId === undefined) return null;
  return resolveCatalog(source.catalogProviderId, model, source.at);
}

function catalogCost(usage: NumericUsage, model: string, source: PriceSource): number | null {
  const resolution = catalogEntry(model, source);
  if (resolution === null) return null;
  if (resolution.flat) {
    // USD per Mtok × 1000 = nano-USD per token. Cache buckets without a rate of their own are
    // charged as input, as genai-prices does.
    const r = resolution.flat;
    const nano =
      usage.uncached * r.input * 1_000 +
      usage.cacheRead * (r.cacheRead ?? r.input) * 1_000 +
      usage.cacheWrite * (r.cacheWrite ?? r.input) * 1_000 +
      usage.output * r.output * 1_000;
    return Math.round(nano);
  }
  if (resolution.tieredRates) return nanoFromUsd(tieredUsd(usage, resolution.tieredRates));
  try {
    // A per-request price: let genai-prices price it.
    const result = calcPrice(
      {
        // genai-prices wants the total input; cache buckets are parts of it.
        input_tokens: usage.uncached + usage.cacheRead + usage.cacheWrite,
        cache_read_tokens: usage.cacheRead,
        cache_write_tokens: usage.cacheWrite,
        output_tokens: usage.output,
      },
      model,
      { providerId: source.catalogProviderId, timestamp: source.at },
    );
    return result === null ? null : nanoFromUsd(result.total_price);
  } catch {
    return null;
  }
}

/** What one response cost, in nano-USD; null when the price or the usage is unknown. */
export function costNano(usage: TokenUsage, model: string, source: PriceSource): number | null {
  const numeric = numericUsage(usage);
  if (!numeric) return null;
  if (source.override) return costFromRates(numeric, source.override);
  return catalogCost(numeric, model, source);
}

/**
 * The most a call can cost: every input token at the dearest input rate (cache writes cost
 * more than plain input on Anthropic) plus `maxOutputTokens` of output. Null when unknown.
 */
export function maxCostNano(
  inputTokens: number,
  maxOutputTokens: number,
  model: string,
  source: PriceSource,
): number | null {
  const plain = { uncached: inputTokens, cacheRead: 0, cacheWrite: 0, output: maxOutputTokens };
  const written = { uncached: 0, cacheRead: 0, cacheWrite: inputTokens, output: maxOutputTokens };
  if (source.override) {
    return Math.max(costFromRates(plain, source.override), costFromRates(written, source.override));
  }
  const a = catalogCost(plain, model, source);
  if (a === null) return null;
  const b = catalogCost(written, model, source);
  return Math.max(a, b ?? 0);
}

/** The catalog provider id a connection kind prices against by default. */
export function defaultCatalogProvider(kind: string): string | undefined {
  if (kind === 'openai' || kind === 'anthropic') return kind;
  return undefined;
}

/** Dollars per million tokens as written by people ("0.15") → nano-USD per Mtok. */
export function usdPerMtokToNano(usd: number): number {
  return Math.round(usd * USD_TO_NANO);
}

/**
 * Rates as the API takes them (USD per million tokens) as stored (nano-USD); a cache rate left
 * out or null is none (it defaults to the input rate).
 */
export function ratesFromUsd(usd: {
  inputUsdPerMtok: number;
  outputUsdPerMtok: number;
  cacheReadUsdPerMtok?: number | null | undefined;
  cacheWriteUsdPerMtok?: number | null | undefined;
}): PriceRates {
  const optional = (rate: number | null | undefined) =>
    rate === undefined || rate === null ? undefined : usdPerMtokToNano(rate);
  return {
    inputNanoPerMtok: usdPerMtokToNano(usd.inputUsdPerMtok),
    outputNanoPerMtok: usdPerMtokToNano(usd.outputUsdPerMtok),
    cacheReadNanoPerMtok: optional(usd.cacheReadUsdPerMtok),
    cacheWriteNanoPerMtok: optional(usd.cacheWriteUsdPerMtok),
  };
}

/** A stored nano-USD amount or rate in USD, as the API shows it; undefined (no rate) is null. */
export function nanoToUsd(nano: number | undefined): number | null {
  return nano === undefined ? null : nano / USD_TO_NANO;
}

/** A model's list prices and context window, for people choosing a model. */
export interface ModelPriceInfo {
  /** USD per million tokens; null when unknown (never 0 for "unknown"). */
  inputUsdPerMtok: number | null;
  outputUsdPerMtok: number | null;
  /** Null when there is no separate cache-read rate (cache reads are then charged as input). */
  cacheReadUsdPerMtok: number | null;
  /** Where the rates come from: a project override (which wins), the catalog, or nowhere. */
  priceSource: 'override' | 'catalog' | null;
  /** The catalog's rates change with the prompt's size; the ones given are the first tier's. */
  tiered: boolean;
  /** Tokens the model reads at most (prompt + answer), from the catalog; null when unknown. */
  contextWindow: number | null;
}

/** The rates a call to `model` would be priced at (see costNano), per million tokens. */
export function modelPriceInfo(model: string, source: PriceSource): ModelPriceInfo {
  const entry = catalogEntry(model, source);
  const contextWindow = entry?.contextWindow ?? null;
  if (source.override) {
    return {
      inputUsdPerMtok: nanoToUsd(source.override.inputNanoPerMtok),
      outputUsdPerMtok: nanoToUsd(source.override.outputNanoPerMtok),
      cacheReadUsdPerMtok: nanoToUsd(source.override.cacheReadNanoPerMtok),
      priceSource: 'override',
      tiered: false,
      contextWindow,
    };
  }
  if (!entry || (entry.list.input === undefined && entry.list.output === undefined)) {
    return {
      inputUsdPerMtok: null,
      outputUsdPerMtok: null,
      cacheReadUsdPerMtok: null,
      priceSource: null,
      tiered: false,
      contextWindow,
    };
  }
  return {
    inputUsdPerMtok: entry.list.input ?? null,
    outputUsdPerMtok: entry.list.output ?? null,
    cacheReadUsdPerMtok: entry.list.cacheRead ?? null,
    priceSource: 'catalog',
    tiered: entry.tiered,
    contextWindow,
  };
}
