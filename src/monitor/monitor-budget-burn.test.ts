import { describe, expect, it } from 'vitest';
import { type BudgetState, budgetBurn } from './monitor-budget-burn.ts';

const budget = (overrides: Partial<BudgetState>): BudgetState => ({
  id: 'b',
  scope: 'project',
  userId: null,
  period: 'day',
  hardLimitNano: 10_000_000_000,
  softLimitNano: null,
  periodStart: '2026-12-06T00:00:00.000Z',
  spentNano: 3_000_000_000,
  reservedNano: 0,
  ...overrides,
});

describe('budget burn', () => {
  it('spends at the period rate so far and projects it to the period end', () => {
    // $3 in 6 hours: $0.50/h; 18 hours left: $12 by midnight, the $10 limit at 20:00.
    const burn = budgetBurn(budget({}), new Date('2026-12-06T06:00:00Z'));
    expect(burn).toMatchObject({
      periodEnd: '2026-12-07T00:00:00.000Z',
      burnNanoPerHour: 500_000_000,
      projectedNano: 12_000_000_000,
      exhaustsAt: '2026-12-06T20:00:00.000Z',
      usedShare: 0.3,
    });
  });

  it('reaches no limit within the period at a slow rate; weeks start on Monday, months end', () => {
    const week = budgetBurn(
      budget({ period: 'week', periodStart: null, spentNano: 840_000_000 }),
      // Thursday noon: 3.5 days in.
      new Date('2026-12-10T12:00:00Z'),
    );
    expect(week.periodStart).toBe('2026-12-07T00:00:00.000Z');
    expect(week.periodEnd).toBe('2026-12-14T00:00:00.000Z');
    expect(week.burnNanoPerHour).toBe(10_000_000);
    expect(week.projectedNano).toBe(1_680_000_000);
    expect(week.exhaustsAt).toBeNull();
    const month = budgetBurn(
      budget({ period: 'month', periodStart: '2026-12-01T00:00:00.000Z' }),
      new Date('2026-12-06T00:00:00Z'),
    );
    expect(month.periodEnd).toBe('2027-01-01T00:00:00.000Z');
  });

  it('has no rate in the first minute, no projection for a total budget, no share without limits', () => {
    expect(budgetBurn(budget({}), new Date('2026-12-06T00:00:30Z')).burnNanoPerHour).toBeNull();
    const total = budgetBurn(
      budget({ period: 'total', periodStart: null, hardLimitNano: null, softLimitNano: null }),
      new Date('2026-12-06T00:00:00Z'),
    );
    expect(total).toMatchObject({ periodEnd: null, projectedNano: null, usedShare: null });
    // Already over the limit: exhausted now.
    const over = budgetBurn(
      budget({ spentNano: 12_000_000_000 }),
      new Date('2026-12-06T06:00:00Z'),
    );
    expect(over.exhaustsAt).toBe('2026-12-06T06:00:00.000Z');
  });
});
