/**
 * Near-duplicate detection for values generated from a description alone (a column whose
 * prompt uses no other column, or generated rows): character-trigram Jaccard similarity on a
 * normalized form. An inverted index keeps each check proportional to the candidates sharing
 * trigrams, not to everything generated so far.
 */
export const DUPLICATE_THRESHOLD = 0.85;
const MAX_ENTRIES = 50_000;

export function normalizeForDedupe(text: string): string {
  return text
    .toLowerCase()
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/[^\p{L}\p{N}]+/gu, ' ')
    .trim();
}

function trigrams(text: string): Set<string> {
  const padded = `  ${text} `;
  const grams = new Set<string>();
  for (let index = 0; index + 3 <= padded.length; index++)
    grams.add(padded.slice(index, index + 3));
  return grams;
}

export function similarity(a: string, b: string): number {
  const x = trigrams(normalizeForDedupe(a));
  const y = trigrams(normalizeForDedupe(b));
  if (x.size === 0 && y.size === 0) return 1;
  let shared = 0;
  for (const gram of x) if (y.has(gram)) shared++;
  return shared / (x.size + y.size - shared);
}

export interface DuplicateMatch {
  key: string;
  text: string;
  score: number;
}

export class DuplicateIndex {
  readonly #entries = new Map<string, { text: string; grams: Set<string> }>();
  readonly #byGram = new Map<string, Set<string>>();
  readonly #threshold: number;

  constructor(threshold = DUPLICATE_THRESHOLD) {
    this.#threshold = threshold;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The most similar entry at or above the threshold, other than `key` itself. */
  find(text: string, key?: string): DuplicateMatch | undefined {
    const grams = trigrams(normalizeForDedupe(text));
    const shared = new Map<string, number>();
    for (const gram of grams)
      for (const other of this.#byGram.get(gram) ?? [])
        if (other !== key) shared.set(other, (shared.get(other) ?? 0) + 1);
    let best: DuplicateMatch | undefined;
    for (const [other, count] of shared) {
      const entry = this.#entries.get(other)!;
      const score = count / (grams.size + entry.grams.size - count);
      if (score >= this.#threshold && (!best || score > best.score))
        best = { key: other, text: entry.text, score };
    }
    return best;
  }

  add(key: string, text: string): void {
    if (this.#entries.has(key)) this.remove(key);
    if (this.#entries.size >= MAX_ENTRIES) return;
    const grams = trigrams(normalizeForDedupe(text));
    this.#entries.set(key, { text, grams });
    for (const gram of grams) {
      let keys = this.#byGram.get(gram);
      if (!keys) {
        keys = new Set();
        this.#byGram.set(gram, keys);
      }
      keys.add(key);
    }
  }

  remove(key: string): void {
    const entry = this.#entries.get(key);
    if (!entry) return;
    this.#entries.delete(key);
    for (const gram of entry.grams) this.#byGram.get(gram)?.delete(key);
  }
}
