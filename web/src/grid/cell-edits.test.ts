import { describe, expect, it } from 'vitest';
import { chunkWrites, MAX_CELLS_PER_REQUEST } from './cell-edits.ts';

describe('chunkWrites', () => {
  it('keeps a small paste in one request', () => {
    const writes = Array.from({ length: 300 }, (_, index) => ({ value: `v${index}` }));
    expect(chunkWrites(writes)).toEqual([writes]);
  });

  it('splits at the cell cap and below the body limit, keeping order', () => {
    const small = Array.from({ length: MAX_CELLS_PER_REQUEST + 5 }, () => ({ value: null }));
    expect(chunkWrites(small).map((chunk) => chunk.length)).toEqual([MAX_CELLS_PER_REQUEST, 5]);
    const big = Array.from({ length: 10 }, (_, index) => ({ value: `${index}é`.repeat(500_000) }));
    const chunks = chunkWrites(big);
    expect(chunks.length).toBeGreaterThan(1);
    for (const chunk of chunks)
      expect(new TextEncoder().encode(JSON.stringify(chunk)).length).toBeLessThanOrEqual(
        4 * 1024 * 1024,
      );
    expect(chunks.flat()).toEqual(big);
  });
});
