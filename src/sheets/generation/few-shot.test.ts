import { describe, expect, it } from 'vitest';
import { type Example, FewShotPool } from './few-shot.ts';

// Whitespace words as tokens keep the arithmetic visible.
const countTokens = (text: string) => text.split(/\s+/).filter(Boolean).length;

function randomText(random: () => number, words: number) {
  const vocabulary = [
    'apple',
    'pear',
    'plum',
    'kiwi',
    'fig',
    'lime',
    'date',
    'yuzu',
    'sloe',
    'quince',
  ];
  return Array.from(
    { length: words },
    () => vocabulary[Math.floor(random() * vocabulary.length)],
  ).join(' ');
}

function seeded(seed: number) {
  let state = seed;
  return () => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    return state / 2 ** 31;
  };
}

describe('few-shot examples', () => {
  it('prefers the rows most like the one being generated', () => {
    const pool = new FewShotPool(
      [
        { rowId: '1', input: 'Review: the battery died after a week', output: 'Negative' },
        { rowId: '2', input: 'Review: lovely colours and fast shipping', output: 'Positive' },
        { rowId: '3', input: 'Review: battery lasts two days, great', output: 'Positive' },
      ],
      countTokens,
    );
    const { examples } = pool.select('Review: battery is weak', { k: 2, tokenBudget: 1_000 });
    expect(examples.map((example) => example.rowId).sort()).toEqual(['1', '3']);
  });

  it('never gives the row itself as its own example', () => {
    const pool = new FewShotPool([{ rowId: '7', input: 'same text', output: 'x' }], countTokens);
    expect(
      pool.select('same text', { k: 5, tokenBudget: 100, excludeRowId: '7' }).examples,
    ).toEqual([]);
  });

  it('never exceeds K examples or the token budget (1,000 random pools)', () => {
    const random = seeded(42);
    for (let round = 0; round < 1_000; round++) {
      const examples: Example[] = Array.from({ length: Math.floor(random() * 60) }, (_, index) => ({
        rowId: String(index),
        input: randomText(random, 1 + Math.floor(random() * 40)),
        output: randomText(random, 1 + Math.floor(random() * 20)),
      }));
      const pool = new FewShotPool(examples, countTokens);
      const k = Math.floor(random() * 8);
      const tokenBudget = Math.floor(random() * 200);
      const selection = pool.select(randomText(random, 10), { k, tokenBudget });
      expect(selection.examples.length).toBeLessThanOrEqual(k);
      expect(selection.tokens).toBeLessThanOrEqual(tokenBudget);
      const counted = selection.examples.reduce(
        (sum, example) => sum + countTokens(example.input) + countTokens(example.output) + 8,
        0,
      );
      expect(counted).toBe(selection.tokens);
    }
  });

  it('skips an example too large for what is left of the budget and takes a smaller one', () => {
    const pool = new FewShotPool(
      [
        { rowId: 'big', input: `match ${'word '.repeat(50)}`, output: 'a' },
        { rowId: 'small', input: 'match', output: 'b' },
      ],
      countTokens,
    );
    const { examples, tokens } = pool.select('match', { k: 5, tokenBudget: 20 });
    expect(examples.map((example) => example.rowId)).toEqual(['small']);
    expect(tokens).toBe(10);
  });
});
