import { rmSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { migratedTempDir } from '../../test/crash-server.ts';
import { eventually } from '../../test/eventually.ts';
import { childEnv, type Spawned, spawnCli } from '../../test/spawn-server.ts';
import { startFakeLlm } from '../../tools/fake-llm/fake-llm-server.ts';
import { FAKE_KEY, prepareDataDir } from '../sheets/generation/generation-test-helpers.ts';

const children: Spawned[] = [];
/** Whatever the test left running is killed, then the data dir removed. */
async function cleanUp(dataDir: string) {
  const running = children.filter(
    (spawned) => spawned.child.exitCode === null && spawned.child.signalCode === null,
  );
  for (const spawned of running) spawned.child.kill('SIGKILL');
  await Promise.all(running.map((spawned) => spawned.exited));
  rmSync(dataDir, { recursive: true, force: true });
}

const promptOf = (body: unknown) => JSON.stringify(body);

// Two server start-ups take ~45 s each with the machine's cores busy: the bound is liveness.
// A server killed with SIGKILL while step 2 of 4 is calling the provider: after a restart the
// run goes on at step 2; step 1's provider call is not made again (the fake server's log).
describe('a workflow run survives kill -9', { timeout: 600_000 }, () => {
  it('resumes at the step it was in, repeating no finished step’s calls', async () => {
    const fake = await startFakeLlm({ apiKey: FAKE_KEY });
    const dataDir = migratedTempDir('braincells-workflow-crash-');
    try {
      const ids = await prepareDataDir(dataDir, fake.url, { rows: 3, run: false });
      const env = childEnv({ BRAINCELLS_DATA_DIR: dataDir, PORT: '0' });
      const first = spawnCli(['serve'], env);
      children.push(first);
      const url = await first.ready();
      const headers = { authorization: `Bearer ${ids.key}`, 'content-type': 'application/json' };
      const api = `${url}/api/projects/${ids.projectId}`;
      const created = await fetch(`${api}/workflows`, {
        method: 'POST',
        headers,
        body: JSON.stringify({
          name: 'Four steps',
          definition: {
            steps: [
              { id: 'one', kind: 'llm', model: 'gpt-4o-mini', prompt: 'step one' },
              // Hangs the first time (the server is killed meanwhile), answers the second.
              {
                id: 'two',
                kind: 'llm',
                model: 'gpt-4o-mini@hang,fail-times=1',
                prompt: 'step two',
                needs: ['one'],
              },
              {
                id: 'three',
                kind: 'llm',
                model: 'gpt-4o-mini',
                prompt: 'step three',
                needs: ['two'],
              },
              { id: 'four', kind: 'report', title: 'R', markdown: '{{steps.three.text}}' },
            ],
          },
        }),
      });
      expect(created.status).toBe(201);
      const workflow = (await created.json()) as { id: string };
      const started = await fetch(`${api}/workflows/${workflow.id}/runs`, {
        method: 'POST',
        headers,
        body: '{}',
      });
      expect(started.status).toBe(202);
      const run = (await started.json()) as { id: string };
      await eventually(
        () => fake.requests.filter((request) => promptOf(request.body).includes('step two')).length,
        (count) => count === 1,
        { what: 'step two called' },
      );
      first.child.kill('SIGKILL');
      await first.exited;
      expect(
        fake.requests.filter((request) => promptOf(request.body).includes('step one')),
      ).toHaveLength(1);

      const second = spawnCli(['serve'], env);
      children.push(second);
      const secondUrl = await second.ready();
      const runUrl = `${secondUrl}/api/projects/${ids.projectId}/workflow-runs/${run.id}`;
      const finished = await eventually(
        async () =>
          (await (await fetch(runUrl, { headers })).json()) as {
            status: string;
            steps: { id: string; status: string; attempts: number }[];
          },
        (view) => ['completed', 'failed', 'cancelled'].includes(view.status),
        { what: 'the run to finish after the restart', timeoutMs: 120_000, intervalMs: 100 },
      );
      expect(finished.status).toBe('completed');
      const calls = (text: string) =>
        fake.requests.filter((request) => promptOf(request.body).includes(text)).length;
      expect(calls('step one')).toBe(1);
      expect(calls('step two')).toBe(2);
      expect(calls('step three')).toBe(1);
      expect(finished.steps.map((step) => [step.id, step.status])).toEqual([
        ['one', 'completed'],
        ['two', 'completed'],
        ['three', 'completed'],
        ['four', 'completed'],
      ]);
    } finally {
      await fake.close();
      await cleanUp(dataDir);
    }
  });
});
