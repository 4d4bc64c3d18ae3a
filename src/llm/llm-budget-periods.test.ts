import { describe, expect, it } from 'vitest';
import { testBackends } from '../../test/test-platform.ts';
import { uuidv7 } from '../platform/ids.ts';
import { type Budget, type BudgetPeriod, createBudgetStore } from './llm-budget-store.ts';
import { createProject, llmTestEnvPerSuite } from './llm-test-env.ts';

// Reservation and settlement over several budgets at once (project, week, month): one
// transaction locks every period row in one statement, the settlement is one statement.
describe.each(testBackends())('budget periods on %s', (backend) => {
  const env = llmTestEnvPerSuite({ backend });
  const db = () => env.database.db;

  async function budgets(limits: [BudgetPeriod, number][]): Promise<Budget[]> {
    const store = createBudgetStore(db());
    const projectId = await createProject(env.database);
    const made: Budget[] = [];
    for (const [period, hardLimitNano] of limits)
      made.push(
        await store.insert({
          id: uuidv7(),
          projectId,
          userId: undefined,
          period,
          hardLimitNano,
          softLimitNano: undefined,
          createdBy: undefined,
        }),
      );
    return made;
  }

  const reservationIds = new Map<object, string>();
  const reserve = async (list: readonly Budget[], amountNano: number, expiresInMs = 60_000) => {
    const at = new Date();
    const reservationId = uuidv7();
    const result = await createBudgetStore(db()).reserve({
      reservationId,
      budgets: list,
      amountNano,
      at,
      expiresAt: new Date(at.getTime() + expiresInMs),
    });
    reservationIds.set(result, reservationId);
    return result;
  };
  const idOf = (result: object) => reservationIds.get(result) as string;

  it('reserves against every budget or none, naming the one that cannot hold it', async () => {
    const list = await budgets([
      ['day', 1_000],
      ['week', 500],
      ['month', 10_000],
    ]);
    const first = await reserve(list, 400);
    expect(first.ok).toBe(true);
    const second = await reserve(list, 200);
    expect(second).toMatchObject({ ok: false, exceeded: { budget: { period: 'week' } } });
    const states = await createBudgetStore(db()).states(list, new Date());
    // The refused call held nothing anywhere.
    expect(states.map((state) => state.reservedNano)).toEqual([400, 400, 400]);
  });

  it('settles into every held period in one statement, and counts the cost when the sweep released the reservation first', async () => {
    const store = createBudgetStore(db());
    const list = await budgets([
      ['day', 10_000],
      ['month', 10_000],
    ]);
    const kept = await reserve(list, 300);
    const swept = await reserve(list, 700, -1);
    if (!kept.ok || !swept.ok) throw new Error('expected both reservations');
    expect(await store.releaseExpired(new Date())).toBe(2);
    await store.settle(idOf(kept), kept.holds, 120);
    await store.settle(idOf(swept), swept.holds, 650);
    const states = await store.states(list, new Date());
    expect(states.map((state) => [state.spentNano, state.reservedNano])).toEqual([
      [770, 0],
      [770, 0],
    ]);
    expect(
      await db()
        .selectFrom('llm_budget_reservation')
        .select('id')
        .where('id', 'in', [idOf(kept), idOf(swept)])
        .execute(),
    ).toEqual([]);
  });

  it('lets 40 concurrent reservations and settlements over three budgets pass no limit and never deadlock', async () => {
    const list = await budgets([
      ['day', 2_000],
      ['week', 3_000],
      ['month', 1_500],
    ]);
    const shuffled = (offset: number) => list.map((_, i) => list[(i + offset) % list.length]!);
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) => reserve(shuffled(i), 100)),
    );
    expect(results.filter((result) => result.ok)).toHaveLength(15);
    const store = createBudgetStore(db());
    let states = await store.states(list, new Date());
    expect(states.map((state) => state.reservedNano)).toEqual([1_500, 1_500, 1_500]);
    // Settlements of calls that listed the budgets in different orders, all at once.
    await Promise.all(
      results.map((result) => (result.ok ? store.settle(idOf(result), result.holds, 60) : null)),
    );
    states = await store.states(list, new Date());
    expect(states.map((state) => [state.spentNano, state.reservedNano])).toEqual([
      [900, 0],
      [900, 0],
      [900, 0],
    ]);
  });
});
