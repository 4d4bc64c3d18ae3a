import { beforeAll, describe, expect, it } from 'vitest';
import { systemActor } from '../auth/system-actor.ts';
import { uuidv7 } from '../platform/ids.ts';
import { withFeatures } from './cli-features.ts';
import { CliError } from './cli-output.ts';
import { cliDataDirPerSuite, runCliCommand as runCommands } from './cli-test-helpers.ts';
import { parseModelOption, registerGatewayCommands } from './gateway-commands.ts';

cliDataDirPerSuite();
const projectId = uuidv7();
let providerId: string;

beforeAll(async () => {
  providerId = await withFeatures(async (features, platform) => {
    await platform.database.db
      .insertInto('project')
      .values({ id: projectId, name: 'CLI' })
      .execute();
    const provider = await features.llm.admin.createProvider(systemActor(), projectId, {
      name: 'local openai',
      kind: 'openai',
      // Never called: creating keys sends no request.
      baseUrl: 'http://127.0.0.1:9/v1',
      apiKey: 'sk-test-cli-gateway-0123456789',
    });
    return provider.id;
  });
});

const run = (...args: string[]) => runCommands(registerGatewayCommands, args);

describe('braincells gateway key', { timeout: 240_000 }, () => {
  it('creates a key shown once, lists it without its secret, and revokes it', async () => {
    const created = await run(
      'gateway',
      'key',
      'create',
      '--project',
      projectId,
      '--name',
      'notebook',
      '--model',
      'fast=local openai/gpt-4o-mini',
      '--model',
      'openai/gpt-4o',
      '--rpm',
      '60',
      '--daily-budget-usd',
      '2.5',
      '--json',
    );
    expect(created.error).toBeUndefined();
    const key = JSON.parse(created.out);
    expect(key.key).toMatch(/^bcgw_[A-Za-z0-9_-]{43}$/);
    expect(key.models).toEqual([
      { name: 'fast', provider: providerId, model: 'gpt-4o-mini', fallbacks: [] },
      { name: 'openai/gpt-4o', provider: providerId, model: 'gpt-4o', fallbacks: [] },
    ]);
    expect(key.requestsPerMinute).toBe(60);
    expect(key.budgets[0]).toMatchObject({ period: 'day', hardLimitNano: 2_500_000_000 });

    const listed = await run('gateway', 'key', 'list', '--project', projectId, '--json');
    expect(listed.error).toBeUndefined();
    expect(listed.out).not.toContain(key.key);
    expect(JSON.parse(listed.out).items).toEqual([
      expect.objectContaining({ id: key.id, name: 'notebook', revokedAt: null }),
    ]);

    const revoked = await run('gateway', 'key', 'revoke', key.id, '--project', projectId);
    expect(revoked.error).toBeUndefined();
    expect(revoked.out).toContain(`Revoked gateway key ${key.id}`);
    const after = await run('gateway', 'key', 'list', '--project', projectId, '--json');
    expect(JSON.parse(after.out).items[0].revokedAt).toEqual(expect.any(String));
    const again = await run('gateway', 'key', 'revoke', key.id, '--project', projectId);
    expect(again.error).toBeInstanceOf(CliError);
    expect((again.error as Error).message).toContain('gateway key');
  });

  it('names the option or field of bad input and creates nothing', async () => {
    const base = ['gateway', 'key', 'create', '--project', projectId, '--name', 'bad'];
    const cases: [string[], string][] = [
      [['--model', 'gpt-4o-mini'], '--model gpt-4o-mini'],
      [['--model', 'openai/gpt-4o', '--rpm', '0'], '--rpm'],
      [['--model', 'openai/gpt-4o', '--daily-budget-usd', 'lots'], '--daily-budget-usd'],
      [['--model', 'nobody/gpt-4o'], 'no provider named "nobody"'],
      [[], '--model'],
    ];
    for (const [extra, named] of cases) {
      const result = await run(...base, ...extra);
      expect(result.error, extra.join(' ')).toBeInstanceOf(CliError);
      expect((result.error as Error).message).toContain(named);
    }
    const badProject = await run('gateway', 'key', 'list', '--project', 'nope');
    expect((badProject.error as Error).message).toContain('--project');
    const listed = await run('gateway', 'key', 'list', '--project', projectId, '--json');
    expect(JSON.parse(listed.out).items.map((item: { name: string }) => item.name)).not.toContain(
      'bad',
    );
  });

  it.each([
    ['fast=openai/gpt-4o-mini', { name: 'fast', provider: 'openai', model: 'gpt-4o-mini' }],
    [
      'hf/meta-llama/Llama-3.1-8B',
      { name: undefined, provider: 'hf', model: 'meta-llama/Llama-3.1-8B' },
    ],
  ])('reads --model %s', (spec, expected) => {
    expect(parseModelOption(spec)).toEqual(expected);
  });
});
