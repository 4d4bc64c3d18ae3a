import { sql } from 'kysely';
import { describe, expect, it, onTestFinished } from 'vitest';
import { testBackends } from '../../test/test-platform.ts';
import { startFakeLlm } from '../../tools/fake-llm/fake-llm-server.ts';
import type { AppError } from '../platform/app-error.ts';
import { uuidv7 } from '../platform/ids.ts';
import { createOwnedProject, FAKE_API_KEY, llmTestEnvPerSuite } from './llm-test-env.ts';

// The hard-budget bound under concurrency, on every backend: PGlite serialises transactions,
// PostgreSQL runs them at once on a pool, and the row lock must hold either way.
describe.each(testBackends())('hard budget under concurrency on %s', (backend) => {
  const env = llmTestEnvPerSuite({ backend });

  it('lets 100 concurrent calls overshoot a small hard budget by at most one call estimate', async () => {
    // A server whose every answer is 200 words, cut by maxOutputTokens: each call spends its
    // whole output allowance, the worst case for a budget.
    const verbose = await startFakeLlm({
      apiKey: FAKE_API_KEY,
      defaults: { output: Array.from({ length: 200 }, (_, i) => `w${i}`).join(' ') },
    });
    onTestFinished(() => verbose.close());
    const { projectId, providerId } = await createOwnedProject(
      env,
      'Budgeted',
      `${verbose.url}/v1`,
    );
    await env.module.admin.createBudget(env.owner, projectId, {
      period: 'month',
      hardLimitNano: 300_000,
    });
    const results = await Promise.allSettled(
      Array.from({ length: 100 }, (_, index) =>
        env.module.llm.generate({
          actor: env.owner,
          projectId,
          feature: 'sheet-cell',
          provider: providerId,
          model: 'gpt-4o-mini',
          messages: [{ role: 'user', content: `Row ${index}: classify this review` }],
          parameters: { maxOutputTokens: 64 },
          cache: 'off',
        }),
      ),
    );
    const succeeded = results.filter((r) => r.status === 'fulfilled');
    const refused = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as AppError] : []));
    expect(succeeded.length).toBeGreaterThan(0);
    expect(refused.length).toBeGreaterThan(0);
    for (const error of refused) {
      expect(error.code).toBe('BUDGET_EXCEEDED');
      expect(error.retryable).toBe(false);
      expect(error.details).toMatchObject({
        scope: 'project',
        period: 'month',
        limitNano: 300_000,
      });
    }
    const estimate = Math.max(...refused.map((error) => Number(error.details?.estimateNano)));
    await env.module.llm.flush();
    const [state] = await env.module.admin.listBudgets(env.owner, projectId);
    const recorded = await sql<{ cost: number }>`
      select coalesce(sum(cost_nano), 0)::bigint as cost from llm_calls where project_id = ${projectId}
    `.execute(env.database.db);
    expect(state?.spentNano).toBe(Number(recorded.rows[0]?.cost));
    expect(state?.spentNano).toBeLessThanOrEqual(300_000 + estimate);
    expect(state?.reservedNano).toBe(0);
    // Refused calls never reached the provider.
    expect(verbose.requests.length).toBe(succeeded.length);
  });

  it('binds a gateway key budget only to calls made with that key, under concurrency', async () => {
    const { projectId, providerId } = await createOwnedProject(env, 'Gateway budget');
    const gatewayKeyId = uuidv7();
    await sql`
      insert into gateway_key (id, project_id, name, prefix, key_hash, models)
      values (${gatewayKeyId}, ${projectId}, 'k', 'bcgw_x', ${'a'.repeat(64)}, '[]'::jsonb)
    `.execute(env.database.db);
    await env.module.admin.setGatewayKeyBudgets(env.owner, projectId, gatewayKeyId, [
      { period: 'day', hardLimitNano: 60_000 },
    ]);
    const call = (index: number, withKey: boolean) =>
      env.module.llm.generate({
        projectId,
        feature: 'gateway',
        ...(withKey ? { gatewayKeyId } : {}),
        provider: providerId,
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: `Gateway row ${index}` }],
        parameters: { maxOutputTokens: 32 },
        cache: 'off',
      });
    const results = await Promise.allSettled(Array.from({ length: 50 }, (_, i) => call(i, true)));
    const refused = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as AppError] : []));
    expect(refused.length).toBeGreaterThan(0);
    expect(refused.length).toBeLessThan(50);
    expect(refused[0]?.details).toMatchObject({ scope: 'gateway-key', period: 'day' });
    // The key's budget does not bind the project's other calls.
    await expect(call(99, false)).resolves.toMatchObject({ attempts: 1 });
    await env.module.llm.flush();
    const [state] = await env.module.admin.gatewayKeyBudgets(env.owner, projectId, gatewayKeyId);
    expect(state?.spentNano).toBeGreaterThan(0);
    expect(state?.spentNano).toBeLessThanOrEqual(60_000);
    expect(state?.reservedNano).toBe(0);
    // Listed with the key, not among the project's budgets.
    expect(await env.module.admin.listBudgets(env.owner, projectId)).toEqual([]);
  });
});
