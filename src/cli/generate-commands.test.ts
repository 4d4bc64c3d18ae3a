import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migratedTempDir } from '../../test/crash-server.ts';
import { registerTestSecret } from '../../test/leak-scan.ts';
import { childEnv, spawnCli } from '../../test/spawn-server.ts';
import { startFakeHub } from '../../tools/fake-hub/fake-hub-server.ts';
import { type FakeLlm, startFakeLlm } from '../../tools/fake-llm/fake-llm-server.ts';
import type { RunView } from '../sheets/generation/generation-presenter.ts';
import { FAKE_KEY, prepareDataDir } from '../sheets/generation/generation-test-helpers.ts';
import { runCliCommandOn } from './cli-test-helpers.ts';
import {
  generationProgressLine,
  parseRows,
  registerGenerateCommands,
} from './generate-commands.ts';

describe('braincells generate', { timeout: 120_000 }, () => {
  let fake: FakeLlm;
  let dataDir: string;
  let ids: Awaited<ReturnType<typeof prepareDataDir>>;
  beforeAll(async () => {
    fake = await startFakeLlm({ apiKey: FAKE_KEY });
    dataDir = migratedTempDir('braincells-cli-generate-');
    ids = await prepareDataDir(dataDir, fake.url, { rows: 12, run: false });
  });
  afterAll(async () => {
    await fake?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  /** A real `braincells` process: its exit code, stdout and stderr are the subject. */
  const run = async (args: string[], extra: Record<string, string> = {}, command = 'generate') => {
    const cli = spawnCli([command, ...args], childEnv({ BRAINCELLS_DATA_DIR: dataDir, ...extra }));
    const { code } = await cli.exited;
    return { code, stdout: cli.stdout(), stderr: cli.stderr() };
  };
  /** `braincells generate …` in this process (no spawn). */
  const runHere = async (args: string[], env: Record<string, string> = {}) => {
    const { out, error, code } = await runCliCommandOn(
      dataDir,
      registerGenerateCommands,
      ['generate', ...args],
      env,
    );
    return { code, stdout: out, message: error instanceof Error ? error.message : '' };
  };

  it('asks for --yes above the cost threshold, fills a row range, then the rest', async () => {
    const refused = await runHere(['--column', 'Out', ids.datasetId], {
      BRAINCELLS_GENERATION_CONFIRM_ABOVE_USD: '0',
    });
    expect(refused.code).toBe(1);
    expect(refused.message).toMatch(/above the confirmation threshold; run again with --yes/);
    expect(fake.requests).toHaveLength(0);

    const range = await runHere(
      ['--column', 'out', '--rows', '3-5', '--yes', '--json', ids.datasetId],
      {
        BRAINCELLS_GENERATION_CONFIRM_ABOVE_USD: '0',
      },
    );
    expect(range.code).toBe(0);
    const view = JSON.parse(range.stdout) as RunView;
    expect(view).toMatchObject({
      status: 'completed',
      mode: 'range',
      progress: { total: 3, done: 3 },
    });
    expect(fake.requests).toHaveLength(3);

    const rest = await run(['--column', ids.columnId, ids.datasetId]);
    expect(rest.code).toBe(0);
    expect(rest.stdout).toMatch(/9 cells done/);
    expect(rest.stderr).toMatch(/cells\/s/);
    expect(fake.requests).toHaveLength(12);
  });

  it('publish: the dataset with its AI column goes to the Hub, private by default (the token never printed)', async () => {
    const token = 'hf-fake-cli-publish-token-9a8b7c';
    registerTestSecret('provider-key', token);
    const hub = await startFakeHub({ tokens: { [token]: 'tester' } });
    try {
      const env = { HF_TOKEN: token, BRAINCELLS_HF_HUB_URL: hub.url };
      const published = await run(
        ['--repo', 'tester/cli', '--json', ids.datasetId],
        env,
        'publish',
      );
      expect(published.code, published.stderr).toBe(0);
      expect(JSON.parse(published.stdout)).toMatchObject({
        status: 'done',
        private: true,
        repoUrl: `${hub.url}/datasets/tester/cli`,
      });
      const repo = hub.repos.get('tester/cli')!;
      expect(repo.private).toBe(true);
      const config = JSON.parse(repo.files.get('braincells.json')!.content.toString('utf8'));
      expect(config.columns.find((column: { kind: string }) => column.kind === 'ai')).toMatchObject(
        {
          name: 'Out',
          ai: { model: expect.any(String) },
        },
      );
      expect(`${published.stdout}${published.stderr}`).not.toContain(token);
    } finally {
      await hub.close();
    }
  });

  it('says clearly when the column does not exist', async () => {
    const missing = await runHere(['--column', 'Nope', ids.datasetId]);
    expect(missing.code).toBe(1);
    expect(missing.message).toMatch(/no AI column "Nope"/);
    const usage = await runHere(['--column', 'Out', '--rows', '5-2', ids.datasetId]);
    expect(usage.code).toBe(2);
  });
});

describe('progress line', () => {
  it('shows share, cells/s, cost and ETA', () => {
    const line = generationProgressLine({
      progress: {
        total: 200,
        processed: 50,
        errors: 2,
        conflicts: 0,
        cellsPerSecond: 12.5,
        costNano: 1_234_000,
        etaSeconds: 12,
      },
    } as RunView);
    expect(line).toBe(
      '[########......................]  25%  50/200 cells  12.5 cells/s  $0.0012  ETA 12s  (2 errors)',
    );
    expect(parseRows('7')).toEqual({ from: 7, to: 7 });
    expect(parseRows(' 10 - 20 ')).toEqual({ from: 10, to: 20 });
  });
});
