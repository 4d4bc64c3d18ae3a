import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { killHard, seedDataDir, serverProcesses } from '../../test/crash-server.ts';
import { withFakeLlm } from '../../test/fake-llm-app.ts';
import { openDatabase } from '../platform/db/database.ts';

const KEY = 'sk-usage-crash-fake-key-4d3c2b1a';

describe('usage rows and a server killed right after answering', { timeout: 120_000 }, () => {
  const servers = serverProcesses();

  it('has written the usage row of every answered call before the answer left', async () => {
    await withFakeLlm(KEY, async (fake) => {
      const dataDir = servers.migratedDataDir('braincells-usage-crash-');
      const seeded = await seedDataDir(
        dataDir,
        { fakeUrl: fake.url, providerKey: KEY, projectName: 'Usage crash' },
        // Testing a connection is the project owner's: a key with the admin scope.
        async ({ app, actor }) => {
          const owner = await app.services.apiKeys.create(actor, {
            name: 'owner',
            scopes: ['read', 'write', 'admin'],
          });
          return { ownerKey: owner.key };
        },
      );
      // A minute between timed flushes: a row buffered in memory would surely die with the process.
      const server = servers.serve(dataDir, { BRAINCELLS_LLM_USAGE_FLUSH_MS: '60000' });
      const url = await server.ready();
      const answers = await Promise.all(
        ['gpt-4o-mini', 'gpt-4o-mini@status=400'].map(async (model) => {
          const response = await fetch(
            `${url}/api/projects/${seeded.projectId}/llm/providers/${seeded.providerId}/test`,
            {
              method: 'POST',
              headers: {
                authorization: `Bearer ${seeded.ownerKey}`,
                'content-type': 'application/json',
              },
              body: JSON.stringify({ model }),
            },
          );
          expect(response.status, await response.clone().text()).toBe(200);
          return (await response.json()) as { ok: boolean };
        }),
      );
      expect(answers.map((answer) => answer.ok)).toEqual([true, false]);
      await killHard(server); // kill -9 the moment both answers are in

      const database = await openDatabase({ kind: 'pglite', dataDir: path.join(dataDir, 'pg') });
      try {
        const rows = await database.db
          .selectFrom('llm_calls')
          .select(['model', 'status', 'feature'])
          .where('project_id', '=', seeded.projectId)
          .orderBy('status')
          .execute();
        expect(rows).toEqual([
          { model: 'gpt-4o-mini@status=400', status: 'error', feature: 'test-connection' },
          { model: 'gpt-4o-mini', status: 'ok', feature: 'test-connection' },
        ]);
      } finally {
        await database.close();
      }
    });
  });
});
