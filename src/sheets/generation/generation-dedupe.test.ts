import { describe, expect, it } from 'vitest';
import { DuplicateIndex, similarity } from './generation-dedupe.ts';

describe('near-duplicate detection', () => {
  it.each([
    ['The Quiet Harbor Café', 'the quiet harbor cafe', true],
    ['Blue Fjord Outfitters', 'Blue Fjord Outfitters!', true],
    ['Blue Fjord Outfitters', 'Crimson Canyon Bakery', false],
    ['Ember & Oak', 'Ember and Oak Tavern, Lisbon', false],
  ])('%j vs %j → duplicate %s', (a, b, duplicate) => {
    expect(similarity(a, b) >= 0.85).toBe(duplicate);
    const index = new DuplicateIndex();
    index.add('1', a);
    expect(index.find(b, '2') !== undefined).toBe(duplicate);
  });

  it('does not match an entry with itself, and forgets removed entries', () => {
    const index = new DuplicateIndex();
    index.add('1', 'Harbor Lights');
    expect(index.find('Harbor Lights', '1')).toBeUndefined();
    expect(index.find('Harbor Lights', '2')?.key).toBe('1');
    index.remove('1');
    expect(index.find('Harbor Lights', '2')).toBeUndefined();
  });
});
