import { describe, expect, it } from 'vitest';
import { pickDefined } from './pick-defined.ts';

describe('pickDefined', () => {
  const source = { name: 'a', description: undefined, limit: null, count: 0, other: 'x' };

  it.each([
    { keys: ['name', 'count'] as const, picked: { name: 'a', count: 0 } },
    { keys: ['description'] as const, picked: {} },
    { keys: ['limit', 'description'] as const, picked: { limit: null } },
    { keys: [] as const, picked: {} },
  ])('$keys → $picked', ({ keys, picked }) => {
    const result = pickDefined(source, keys);
    expect(result).toStrictEqual(picked);
    expect('description' in result).toBe(false);
  });
});
