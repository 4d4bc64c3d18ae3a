import { describe, expect, it } from 'vitest';
import { TEST_CONNECTION_FEATURE } from './llm-service.ts';
import { actorFor, createUser, FAKE_API_KEY, llmTestEnvPerSuite } from './llm-test-env.ts';

const env = llmTestEnvPerSuite();

async function testConnectionRows(projectId: string) {
  await env.module.llm.flush();
  return env.database.db
    .selectFrom('llm_calls')
    .selectAll()
    .where('project_id', '=', projectId)
    .where('feature', '=', TEST_CONNECTION_FEATURE)
    .orderBy('created_at')
    .execute();
}

describe('test connection usage', () => {
  it('records the test request as a usage row with the tokens and cost the provider reported', async () => {
    const result = await env.module.admin.testProvider(
      env.owner,
      env.projectId,
      env.providers.openai,
      { model: 'gpt-4o-mini' },
    );
    expect(result.ok).toBe(true);
    const rows = await testConnectionRows(env.projectId);
    expect(rows).toHaveLength(1);
    const [row] = rows;
    expect(row).toMatchObject({
      user_id: env.owner.userId,
      provider_ref: env.providers.openai,
      provider_kind: 'openai',
      model: 'gpt-4o-mini',
      attempt: 1,
      status: 'ok',
      cache_status: 'off',
      usage_estimated: false,
    });
    expect(row?.uncached_input_tokens).toBeGreaterThan(0);
    expect(row?.output_tokens).toBe(1);
    // gpt-4o-mini is in the price catalog: the few tokens cost something, never a silent 0.
    expect(Number(row?.cost_nano)).toBeGreaterThan(0);
    // Exactly one model request was sent (besides the model list): no retry, no second call.
    expect(env.fake.requests.filter((request) => request.method === 'POST')).toHaveLength(1);

    const spend = await env.module.admin.spend(env.owner, env.projectId, { groupBy: 'feature' });
    expect(spend.rows).toContainEqual(
      expect.objectContaining({
        feature: TEST_CONNECTION_FEATURE,
        calls: 1,
        costNano: Number(row?.cost_nano),
      }),
    );
  });

  it('records a failed test with its error, at no cost, and counts it in the metrics', async () => {
    const before = await testConnectionRows(env.projectId);
    const result = await env.module.admin.testProvider(
      env.owner,
      env.projectId,
      env.providers.anthropic,
      { model: 'claude-3-5-haiku-latest@status=404' },
    );
    expect(result).toMatchObject({ ok: false, error: { reason: 'model-not-found' } });
    const rows = await testConnectionRows(env.projectId);
    expect(rows).toHaveLength(before.length + 1);
    expect(rows.at(-1)).toMatchObject({
      provider_kind: 'anthropic',
      status: 'error',
      error_code: 'PROVIDER_ERROR',
      failure_kind: 'model-not-found',
      http_status: 404,
      uncached_input_tokens: null,
    });
    expect(Number(rows.at(-1)?.cost_nano)).toBe(0);
    const metrics = await env.metrics.getSingleMetricAsString('braincells_llm_attempts_total');
    expect(metrics).toMatch(
      /braincells_llm_attempts_total\{[^}]*feature="test-connection"[^}]*status="error"[^}]*\} 1/,
    );
  });

  it('runs no request when the hard budget is used up, and says so', async () => {
    const before = await testConnectionRows(env.projectId);
    const budget = await env.module.admin.createBudget(env.owner, env.projectId, {
      period: 'day',
      hardLimitNano: 1,
    });
    try {
      const result = await env.module.admin.testProvider(
        env.owner,
        env.projectId,
        env.providers.openai,
        { model: 'gpt-4o-mini' },
      );
      expect(result).toMatchObject({
        ok: false,
        error: { code: 'BUDGET_EXCEEDED', reason: 'budget-exceeded' },
      });
      expect(result.error?.message).toContain('the test request was not sent');
      expect(env.fake.requests.filter((request) => request.method === 'POST')).toHaveLength(0);
      expect(await testConnectionRows(env.projectId)).toHaveLength(before.length);
    } finally {
      await env.module.admin.deleteBudget(env.owner, env.projectId, budget.id);
    }
  });

  it('records nothing in any project for an instance-wide test (no project to charge)', async () => {
    const admin = actorFor(await createUser(env.database), true);
    const instanceWide = await env.module.admin.createProvider(admin, undefined, {
      name: 'instance fake',
      kind: 'openai',
      baseUrl: `${env.fake.url}/v1`,
      apiKey: FAKE_API_KEY,
    });
    const countBefore = await env.database.db
      .selectFrom('llm_calls')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('feature', '=', TEST_CONNECTION_FEATURE)
      .executeTakeFirstOrThrow();
    const result = await env.module.admin.testProvider(admin, undefined, instanceWide.id, {
      model: 'gpt-4o-mini',
    });
    expect(result.ok).toBe(true);
    await env.module.llm.flush();
    const countAfter = await env.database.db
      .selectFrom('llm_calls')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('feature', '=', TEST_CONNECTION_FEATURE)
      .executeTakeFirstOrThrow();
    expect(Number(countAfter.n)).toBe(Number(countBefore.n));
    // Not a row that failed to insert and waits in the buffer: none was made.
    expect(env.logs.text()).not.toContain('llm usage write failed');
  });
});
