/**
 * Few-shot examples from validated cells. A validated cell (thumbs-up or user edit) shows the
 * model what a good answer looks like; for each cell generated, at most `k` of them are given,
 * the most similar to the row at hand, and only as many as fit `tokenBudget`. The seed system
 * fed every earlier answer back into every call (unbounded, slower each row); here the pool is
 * capped and each call's examples are bounded twice, by count and by tokens.
 */
export interface Example {
  rowId: string;
  /** The rendered prompt of the example's row. */
  input: string;
  /** The answer as the model should write it (see exampleAnswer). */
  output: string;
}

export interface ExampleSelection {
  examples: Example[];
  tokens: number;
}

/** Most validated cells kept as candidates per column. */
export const MAX_POOL = 1_000;

const WORD = /[\p{L}\p{N}]+/gu;

function termCounts(text: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const match of text.toLowerCase().matchAll(WORD)) {
    const term = match[0];
    counts.set(term, (counts.get(term) ?? 0) + 1);
  }
  return counts;
}

interface Entry {
  example: Example;
  vector: Map<string, number>;
  norm: number;
  tokens: number;
}

/**
 * Candidates with their term vectors (tf·idf over the pool) and token counts, computed once
 * per pool. `countTokens` is the tokenizer the LLM module estimates with.
 */
export class FewShotPool {
  readonly #entries: Entry[];
  readonly #idf: Map<string, number>;
  readonly #countTokens: (text: string) => number;

  constructor(examples: readonly Example[], countTokens: (text: string) => number) {
    this.#countTokens = countTokens;
    const pool = examples.slice(0, MAX_POOL);
    const documents = pool.map((example) => termCounts(example.input));
    const frequency = new Map<string, number>();
    for (const counts of documents)
      for (const term of counts.keys()) frequency.set(term, (frequency.get(term) ?? 0) + 1);
    this.#idf = new Map(
      [...frequency].map(([term, n]) => [term, Math.log(1 + pool.length / n)] as const),
    );
    this.#entries = pool.map((example, index) => {
      const vector = this.#weigh(documents[index]!);
      return {
        example,
        vector,
        norm: Math.hypot(...vector.values()),
        // Both messages of the pair, plus a few tokens of message framing each.
        tokens: countTokens(example.input) + countTokens(example.output) + 8,
      };
    });
  }

  get size(): number {
    return this.#entries.length;
  }

  #weigh(counts: Map<string, number>): Map<string, number> {
    const vector = new Map<string, number>();
    for (const [term, count] of counts) {
      const idf = this.#idf.get(term);
      if (idf !== undefined) vector.set(term, (1 + Math.log(count)) * idf);
    }
    return vector;
  }

  /**
   * Up to `k` examples, most similar first, whose tokens together stay within `tokenBudget`.
   * An example that does not fit is skipped for a smaller one further down the list. The
   * row being generated (`excludeRowId`) is never its own example.
   */
  select(
    input: string,
    options: { k: number; tokenBudget: number; excludeRowId?: string },
  ): ExampleSelection {
    if (options.k <= 0 || options.tokenBudget <= 0 || this.#entries.length === 0)
      return { examples: [], tokens: 0 };
    const query = this.#weigh(termCounts(input));
    const queryNorm = Math.hypot(...query.values());
    const scored = this.#entries
      .filter((entry) => entry.example.rowId !== options.excludeRowId)
      .map((entry) => {
        let dot = 0;
        for (const [term, weight] of query) dot += weight * (entry.vector.get(term) ?? 0);
        const score = queryNorm === 0 || entry.norm === 0 ? 0 : dot / (queryNorm * entry.norm);
        return { entry, score };
      })
      .sort((a, b) => b.score - a.score || a.entry.tokens - b.entry.tokens);
    const chosen: Example[] = [];
    let tokens = 0;
    for (const { entry } of scored) {
      if (chosen.length >= options.k) break;
      if (tokens + entry.tokens > options.tokenBudget) continue;
      chosen.push(entry.example);
      tokens += entry.tokens;
    }
    return { examples: chosen, tokens };
  }

  /** Token count of a text with the pool's tokenizer. */
  count(text: string): number {
    return this.#countTokens(text);
  }
}
