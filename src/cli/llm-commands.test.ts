import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { fakeLlmPerSuite } from '../../test/fake-llm-app.ts';
import type { Database } from '../platform/db/database.ts';
import { uuidv7 } from '../platform/ids.ts';
import { cliDataDirPerSuite, runCliCommand, withCliDatabase } from './cli-test-helpers.ts';
import { formatUsd, registerLlmCommands } from './llm-commands.ts';

const KEY = 'sk-cli-test-key-aaaaaaaaaaaaaaaaaaaaaaaa';
const fake = fakeLlmPerSuite(KEY);
const projectId = uuidv7();

async function seedUsage(db: Database['db']): Promise<void> {
  await sql`insert into project (id, name) values (${projectId}, 'CLI')`.execute(db);
  const row = (model: string, feature: string, cost: number | null) => sql`
    insert into llm_calls (id, call_id, created_at, project_id, feature, provider_ref, provider_kind, model, attempt, status, cost_nano, latency_ms)
    values (${uuidv7()}, ${uuidv7()}, now(), ${projectId}, ${feature}, 'env:openai', 'openai', ${model}, 1, 'ok', ${cost}, 5)`;
  for (const statement of [
    row('gpt-4o-mini', 'chat', 1_500_000),
    row('gpt-4o-mini', 'summary', 500_000),
    row('llama', 'chat', null),
  ]) {
    await statement.execute(db);
  }
  // The rollup is written with usage batches; these rows were inserted by hand, so add it too.
  await sql`
    insert into llm_usage_daily (day, project_id, provider_kind, model, feature, calls, attempts, cost_nano, unpriced_attempts)
    select created_at::date, project_id, provider_kind, model, feature, count(*), count(*), coalesce(sum(cost_nano), 0), count(*) filter (where cost_nano is null)
    from llm_calls where project_id = ${projectId} group by 1, 2, 3, 4, 5`.execute(db);
}

const storage = cliDataDirPerSuite({
  seed: seedUsage,
  env: () => ({ OPENAI_API_KEY: KEY, OPENAI_BASE_URL: `${fake.url}/v1` }),
});

const run = (...args: string[]) => runCliCommand(registerLlmCommands, args);

describe('braincells llm / spend', () => {
  it('tests an environment provider and says what happened', async () => {
    const ok = await run('llm', 'test', 'env:openai', '--model', 'gpt-4o-mini');
    expect(ok.error).toBeUndefined();
    expect(ok.out).toMatch(/^ok: \d+ models listed, gpt-4o-mini answered/);
    const unknown = await run('llm', 'test', 'env:openai', '--model', 'unknown-model');
    expect(unknown.out).toContain('failed: The provider does not know the model "unknown-model".');
    expect((unknown.error as { exitCode?: number }).exitCode).toBe(1);
    const json = await run('llm', 'test', 'openai (env)', '--model', 'unknown-model', '--json');
    expect(JSON.parse(json.out)).toMatchObject({ ok: false, error: { reason: 'model-not-found' } });
    expect(json.error).toBeUndefined();
    expect(ok.out + unknown.out + json.out).not.toContain(KEY);
  });

  it('takes a provider kind when one connection has it, and names them when several do', async () => {
    const byKind = await run('llm', 'test', 'openai', '--model', 'gpt-4o-mini');
    expect(byKind.error).toBeUndefined();
    expect(byKind.out).toMatch(/^ok: \d+ models listed, gpt-4o-mini answered/);
    const none = await run('llm', 'test', 'anthropic');
    expect(none.error).toMatchObject({
      exitCode: 2,
      message: 'no provider named "anthropic", nor of that kind',
    });

    const local = (name: string) => sql`
      insert into llm_provider (id, project_id, name, kind, base_url, created_at, updated_at)
      values (${uuidv7()}, ${projectId}, ${name}, 'openai-compatible', ${`${fake.url}/v1`}, now(), now())`;
    await withCliDatabase(storage(), async (db) => {
      await local('Local A').execute(db);
      await local('Local B').execute(db);
    });
    const several = await run('llm', 'test', 'openai-compatible', '--project', projectId);
    expect(several.error).toMatchObject({
      exitCode: 2,
      message: 'several openai-compatible providers: "Local A", "Local B"; name one or use its id',
    });
    // A name still wins over a kind, and picks one of them.
    const named = await run('llm', 'test', 'local b', '--project', projectId, '--json');
    expect(named.error).toBeUndefined();
    expect(JSON.parse(named.out)).toHaveProperty('ok');
  });

  it('prints spend by model, with unknown prices counted apart', async () => {
    const { out, error } = await run('spend', '--project', projectId, '--since', '30d');
    expect(error).toBeUndefined();
    expect(out).toMatch(/gpt-4o-mini\s+2\s+0\s+0\s+\$0\.002000\s+0/);
    // Unknown prices are not $0.
    expect(out).toMatch(/llama\s+1\s+0\s+0\s+unknown\s+1/);
    expect(out).toContain('total since');
    expect(out).toContain('$0.002000 over 3 calls (+1 attempts of unknown price)');
  });

  it('prints spend as JSON by feature', async () => {
    const { out } = await run('spend', '--project', projectId, '--by', 'feature', '--json');
    const body = JSON.parse(out);
    expect(body.rows).toEqual([
      expect.objectContaining({ feature: 'chat', costNano: 1_500_000, unpricedAttempts: 1 }),
      expect.objectContaining({ feature: 'summary', costNano: 500_000 }),
    ]);
  });

  it('formats nano-USD for people', () => {
    expect(formatUsd(123)).toBe('$0.000000');
    expect(formatUsd(1_234_000)).toBe('$0.001234');
    expect(formatUsd(250_000_000_000)).toBe('$250.00');
    expect(formatUsd(null)).toBe('unknown');
  });
});
