import { describe, expect, it } from 'vitest';
import { type BlockEvent, usageBlocks } from './monitor-blocks.ts';

const at = (iso: string) => Date.parse(iso);
const event = (iso: string, output: number, costNano: number | null = 1_000): BlockEvent => ({
  ts: at(iso),
  tokens: { input: 0, output, reasoning: 0, cacheRead: 0, cacheWrite: 0 },
  costNano,
  basis: costNano === null ? 'unpriced' : 'computed',
});

describe('5-hour usage blocks', () => {
  const events = [
    event('2026-01-10T10:20:00Z', 100),
    event('2026-01-10T11:20:00Z', 500),
    event('2026-01-10T14:59:59Z', 10),
    // 15:00 is past the first block's end (10:00 + 5 h): a new block from 15:00.
    event('2026-01-10T15:10:00Z', 60, null),
    event('2026-01-10T15:40:00Z', 240),
  ];

  it('start at the hour of the first call after the previous block and last 5 hours', () => {
    const blocks = usageBlocks(events, at('2026-01-11T00:00:00Z'));
    expect(
      blocks.map((b) => [
        new Date(b.start).toISOString(),
        new Date(b.end).toISOString(),
        b.usageEvents,
      ]),
    ).toEqual([
      ['2026-01-10T10:00:00.000Z', '2026-01-10T15:00:00.000Z', 3],
      ['2026-01-10T15:00:00.000Z', '2026-01-10T20:00:00.000Z', 2],
    ]);
    expect(blocks[1]).toMatchObject({
      costNano: 1_000,
      unpricedEvents: 1,
      active: false,
      projectedTokens: null,
    });
    // 300 tokens over the 30 minutes between the first and last call.
    expect(blocks[1]!.burnTokensPerMinute).toBe(10);
  });

  it('projects the open block to its end at the current burn rate', () => {
    const blocks = usageBlocks(events, at('2026-01-10T16:00:00Z'));
    const open = blocks[1]!;
    expect(open.active).toBe(true);
    // 300 now + 10/min × 240 min left (16:00 → 20:00).
    expect(open.projectedTokens).toBe(300 + 10 * 240);
    expect(open.projectedCostNano).toBe(Math.round(1_000 * (2_700 / 300)));
  });

  it('a single call has no burn rate', () => {
    const [only] = usageBlocks([event('2026-01-10T10:20:00Z', 5)], at('2026-01-10T10:30:00Z'));
    expect(only).toMatchObject({ burnTokensPerMinute: null, projectedTokens: null, active: true });
  });
});
