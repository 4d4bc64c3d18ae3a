import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { killHard, seedDataDir, serverProcesses } from '../../test/crash-server.ts';
import { eventually } from '../../test/eventually.ts';
import { withFakeLlm } from '../../test/fake-llm-app.ts';
import { registerTestSecret } from '../../test/leak-scan.ts';
import { openDatabase } from '../platform/db/database.ts';
import type { SheetsModule } from '../sheets/sheets-module.ts';

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

  it('loses no usage row of an AI column run: internal calls answer from the outbox too', async () => {
    await withFakeLlm(KEY, async (fake) => {
      const dataDir = servers.migratedDataDir('braincells-cells-crash-');
      const seeded = await seedDataDir(
        dataDir,
        { fakeUrl: fake.url, providerKey: KEY, projectName: 'Cells crash' },
        async ({ app, actor, projectId, providerId }) => {
          const { sheets } = (app as unknown as { sheets: SheetsModule }).sheets;
          const dataset = await sheets.createDataset(actor, projectId, {
            name: 'Cities',
            columns: [{ name: 'City' }],
          });
          const city = dataset.columns[0]!.id;
          await sheets.appendRows(actor, projectId, dataset.id, [
            { [city]: 'Quito' },
            { [city]: 'Kyoto' },
            { [city]: 'Oslo' },
          ]);
          const { column } = await app.generation.aiColumns.createAiColumn(
            actor,
            projectId,
            dataset.id,
            {
              name: 'Summary',
              prompt: 'Summarise {{City}}',
              provider: providerId,
              model: 'gpt-4o-mini',
              run: false,
            },
          );
          return { datasetId: dataset.id, columnId: column.id };
        },
      );
      // A minute between timed flushes: rows still only in memory would die with the process.
      const env = { BRAINCELLS_LLM_USAGE_FLUSH_MS: '60000' };
      const server = servers.serve(dataDir, env);
      const url = await server.ready();
      const headers = { authorization: `Bearer ${seeded.key}`, 'content-type': 'application/json' };
      const base = `${url}/api/projects/${seeded.projectId}/datasets/${seeded.datasetId}`;
      const started = await fetch(`${base}/ai-columns/${seeded.columnId}/runs`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ mode: 'all' }),
      });
      expect(started.status, await started.clone().text()).toBe(202);
      const { id: runId } = (await started.json()) as { id: string };
      const run = await eventually(
        async () =>
          (await (await fetch(`${base}/runs/${runId}`, { headers })).json()) as {
            status: string;
            progress: { done: number };
          },
        (value) => value.status === 'completed',
      );
      expect(run.progress.done).toBe(3);
      await killHard(server); // kill -9 the moment the three cells are written

      const cellRows = async () => {
        const database = await openDatabase({ kind: 'pglite', dataDir: path.join(dataDir, 'pg') });
        try {
          return await database.db
            .selectFrom('llm_calls')
            .select(['status', 'feature'])
            .where('project_id', '=', seeded.projectId)
            .execute();
        } finally {
          await database.close();
        }
      };
      // The cells were written before the rows were committed (they were in the outbox file).
      expect(await cellRows()).toEqual([]);

      // The next start replays the outbox before any usage read.
      const again = servers.serve(dataDir, env);
      const againUrl = await again.ready();
      const listed = await fetch(`${againUrl}/api/projects/${seeded.projectId}/llm/calls`, {
        headers,
      });
      expect(listed.status).toBe(200);
      const { items } = (await listed.json()) as { items: { status: string }[] };
      expect(items.map((item) => item.status)).toEqual(['ok', 'ok', 'ok']);
      await killHard(again);
      expect(await cellRows()).toEqual([
        { status: 'ok', feature: 'sheet-cell' },
        { status: 'ok', feature: 'sheet-cell' },
        { status: 'ok', feature: 'sheet-cell' },
      ]);
    });
  });

  it('loses no gateway usage row: answered from the outbox, replayed by the next start', async () => {
    await withFakeLlm(KEY, async (fake) => {
      const dataDir = servers.migratedDataDir('braincells-gateway-crash-');
      const seeded = await seedDataDir(
        dataDir,
        { fakeUrl: fake.url, providerKey: KEY, projectName: 'Gateway crash' },
        async ({ app, actor, projectId, providerId }) => {
          const { key: gatewayKey, id: gatewayKeyId } = await app.gateway.service.createKey(
            actor,
            projectId,
            {
              name: 'crash',
              models: [
                { name: 'fast', provider: providerId, model: 'gpt-4o-mini' },
                { name: 'broken', provider: providerId, model: 'gpt-4o-mini@status=400' },
              ],
            },
          );
          registerTestSecret('api-key', gatewayKey);
          return { gatewayKey, gatewayKeyId };
        },
      );
      // A minute between timed flushes: rows still only in memory would die with the process.
      const env = { BRAINCELLS_LLM_USAGE_FLUSH_MS: '60000' };
      const server = servers.serve(dataDir, env);
      const url = await server.ready();
      const call = async (model: string, stream: boolean) => {
        const response = await fetch(`${url}/v1/chat/completions`, {
          method: 'POST',
          headers: {
            authorization: `Bearer ${seeded.gatewayKey}`,
            'content-type': 'application/json',
          },
          body: JSON.stringify({
            model,
            stream,
            messages: [{ role: 'user', content: `crash ${model} ${stream}` }],
          }),
        });
        await response.text(); // the whole answer (or the stream to its end)
        return response.status;
      };
      expect(
        await Promise.all([call('fast', false), call('fast', true), call('broken', false)]),
      ).toEqual([200, 200, 400]);
      await killHard(server); // kill -9 the moment the three answers are in

      const gatewayRows = async () => {
        const database = await openDatabase({ kind: 'pglite', dataDir: path.join(dataDir, 'pg') });
        try {
          return await database.db
            .selectFrom('llm_calls')
            .select(['status', 'feature', 'entity_ids'])
            .where('project_id', '=', seeded.projectId)
            .orderBy('status')
            .execute();
        } finally {
          await database.close();
        }
      };
      // The answers left before the rows were committed (they were in the outbox file).
      expect(await gatewayRows()).toEqual([]);

      // The next start replays the outbox; reading usage through the API shows every row.
      const again = servers.serve(dataDir, env);
      const againUrl = await again.ready();
      const listed = await fetch(`${againUrl}/api/projects/${seeded.projectId}/llm/calls`, {
        headers: { authorization: `Bearer ${seeded.key}` },
      });
      expect(listed.status).toBe(200);
      const { items } = (await listed.json()) as { items: { status: string }[] };
      expect(items.map((item) => item.status).sort()).toEqual(['error', 'ok', 'ok']);
      await killHard(again);

      const entity = { gatewayKeyId: seeded.gatewayKeyId };
      expect(await gatewayRows()).toEqual([
        { status: 'error', feature: 'gateway', entity_ids: entity },
        { status: 'ok', feature: 'gateway', entity_ids: entity },
        { status: 'ok', feature: 'gateway', entity_ids: entity },
      ]);
    });
  });
});
