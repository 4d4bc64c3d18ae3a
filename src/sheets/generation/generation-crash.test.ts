import { describe, expect, it } from 'vitest';
import { killHard, serverProcesses } from '../../../test/crash-server.ts';
import { withFakeLlm } from '../../../test/fake-llm-app.ts';
import { FAKE_KEY, prepareDataDir } from './generation-test-helpers.ts';

const N = 120;

describe('a run survives kill -9', { timeout: 120_000 }, () => {
  const servers = serverProcesses();

  it('resumes on restart and ends with exactly N done cells, none generating, only in-flight calls repeated', async () => {
    await withFakeLlm(FAKE_KEY, async (fake) => {
      const dataDir = servers.migratedDataDir('braincells-crash-');
      const ids = await prepareDataDir(dataDir, fake.url, {
        rows: N,
        model: 'gpt-4o-mini@latency=300',
      });
      expect(ids.runId).toBeDefined();
      const env = { BRAINCELLS_GENERATION_CONCURRENCY: '8' };

      const first = servers.serve(dataDir, env);
      await first.ready();
      await expect
        .poll(() => fake.stats().completed, { timeout: 60_000, interval: 20 })
        .toBeGreaterThanOrEqual(N / 3);
      // Calls in flight (or answered but not yet committed) at the moment of the crash may be
      // asked again after it; nothing else. Counted once the process is dead, so a call it
      // started between a count and the kill is not missed: the crash cut those connections
      // (the fake server records them as aborted), and an answered call is committed within
      // the commit interval (~100 ms; 1 s allowed on a loaded machine).
      const killedAt = Date.now();
      await killHard(first);
      const inFlight = fake.requests.filter((request) => !request.completed).length;
      const justAnswered = fake.requests.filter(
        (request) => request.completed && (request.endedAt ?? 0) > killedAt - 1_000,
      ).length;
      expect(fake.stats().completed).toBeLessThan(N);

      const second = servers.serve(dataDir, env);
      const url = await second.ready();
      const headers = { authorization: `Bearer ${ids.key}` };
      const runUrl = `${url}/api/projects/${ids.projectId}/datasets/${ids.datasetId}/runs/${ids.runId}`;
      await expect
        .poll(
          async () =>
            ((await (await fetch(runUrl, { headers })).json()) as { status: string }).status,
          {
            timeout: 60_000,
            interval: 100,
          },
        )
        .toBe('completed');
      const run = (await (await fetch(runUrl, { headers })).json()) as {
        progress: {
          done: number;
          total: number;
          errors: number;
          conflicts: number;
          inputTokens: number;
          outputTokens: number;
          costNano: number;
        };
      };
      expect(run.progress.total).toBe(N);

      const rowsUrl = `${url}/api/projects/${ids.projectId}/datasets/${ids.datasetId}/rows?limit=1000`;
      const window = (await (await fetch(rowsUrl, { headers })).json()) as {
        rows: {
          cells: Record<
            string,
            {
              status: string;
              value: unknown;
              inputTokens: number | null;
              outputTokens: number | null;
              costNanoUsd: number | null;
            }
          >;
        }[];
      };
      const cells = window.rows.map((row) => row.cells[ids.columnId]!);
      expect(cells).toHaveLength(N);
      expect(cells.filter((cell) => cell.status === 'done')).toHaveLength(N);
      expect(cells.filter((cell) => cell.status === 'generating')).toHaveLength(0);

      // The run's counters were recounted from the cells when it resumed, not carried from
      // the heartbeat before the crash: they equal what the cells hold.
      const sum = (field: 'inputTokens' | 'outputTokens' | 'costNanoUsd') =>
        cells.reduce((total, cell) => total + (cell[field] ?? 0), 0);
      expect(sum('outputTokens')).toBeGreaterThan(0);
      expect(run.progress).toMatchObject({
        done: N,
        errors: 0,
        conflicts: 0,
        inputTokens: sum('inputTokens'),
        outputTokens: sum('outputTokens'),
        costNano: sum('costNanoUsd'),
      });

      // Each row's prompt was sent once, except those whose calls the crash interrupted.
      const prompts = fake.requests.map(
        (request) => JSON.stringify(request.body).match(/Write about item \d+/)?.[0],
      );
      const distinct = new Set(prompts);
      expect(distinct.size).toBe(N);
      expect(prompts.length - distinct.size).toBeLessThanOrEqual(inFlight + justAnswered);

      second.child.kill('SIGTERM');
      expect((await second.exited).code).toBe(0);
    });
  });
});
