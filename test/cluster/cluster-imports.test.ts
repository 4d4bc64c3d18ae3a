import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { eventually } from '../eventually.ts';
import { testDatabaseUrl } from '../test-postgres.ts';
import { reachable, TEST_REDIS_URL } from '../test-redis.ts';
import { clusterPerFile, openSse } from './cluster-harness.ts';

// Issue #20: an upload received by one server is imported by another. Server 0 answers
// requests only (`api`, no job workers), so the import job of a file it received runs on
// server 1 or 2; uploads are kept in the shared storage folder (BRAINCELLS_STORAGE_DIR), which
// every server mounts (docs/decisions/2026-12-06-uploads-on-shared-storage.md).
const ROWS = 120;
const ready = testDatabaseUrl() !== undefined && (await reachable(TEST_REDIS_URL));

interface ImportView {
  id: string;
  status: string;
  datasetId: string | null;
  rowsImported: number | null;
  error: unknown;
  preview: { columns: { source: string }[]; sample: unknown } | null;
}

describe.runIf(ready)('imports in a cluster of three servers', { timeout: 300_000 }, () => {
  const t = clusterPerFile({ roles: ['api', 'all', 'all'], fixedPorts: true });

  const projectUrl = (server: number) => `${t.url(server)}/api/projects/${t.seeded.projectId}`;
  const call = async (server: number, method: string, url: string, body?: unknown) => {
    const response = await fetch(`${projectUrl(server)}${url}`, {
      method,
      headers: t.headers,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: response.status, body: (await response.json()) as never };
  };
  const upload = async (server: number, filename: string, content: string, query = '') => {
    const form = new FormData();
    form.append('file', new Blob([content]), filename);
    const response = await fetch(`${projectUrl(server)}/imports${query}`, {
      method: 'POST',
      headers: { authorization: t.headers.authorization! },
      body: form,
    });
    return { status: response.status, body: (await response.json()) as ImportView };
  };
  const uploadsFolder = () => path.join(t.cluster.sharedDir, 'imports');
  const serverFolder = (server: number) =>
    path.join(path.dirname(t.cluster.sharedDir), 'servers', `s${server + 1}`, 'imports');
  const csv = [
    'name,amount',
    ...Array.from({ length: ROWS }, (_, index) => `item ${index},${index * 3}`),
  ].join('\n');

  /** Waits (on server `server`'s event stream) for the import's end and returns it as stored. */
  const importEnded = async (server: number, importId: string, start: () => Promise<void>) => {
    const events = await openSse(`${projectUrl(server)}/imports/${importId}/events`, t.headers);
    try {
      await start();
      await events.until((event) => event.type === 'import-end');
    } finally {
      await events.close();
    }
    return (await call(server, 'GET', `/imports/${importId}`)).body as ImportView;
  };

  it('an upload to an api server is previewed again by a second server, started through a third and imported by a worker: every row as sent', async () => {
    const uploaded = await upload(0, 'amounts.csv', csv);
    expect(uploaded.status).toBe(201);
    expect(uploaded.body.status).toBe('uploaded');
    // Kept where every server reads it, under a random name; nothing in the receiving server's own folder.
    const kept = readdirSync(uploadsFolder());
    expect(kept).toHaveLength(1);
    expect(kept[0]).toMatch(/^[0-9a-f-]{36}\.upload$/);
    expect(existsSync(serverFolder(0)) ? readdirSync(serverFolder(0)) : []).toEqual([]);

    // Another server reads the file for a new preview (it 404s when it cannot find it).
    const previewed = await call(1, 'POST', `/imports/${uploaded.body.id}/preview`, {
      header: true,
    });
    expect(previewed.status).toBe(200);
    const preview = (previewed.body as ImportView).preview!;
    expect(preview.columns.map((column) => column.source)).toEqual(['name', 'amount']);
    expect(JSON.stringify(preview.sample)).toContain('item 7');

    const ended = await importEnded(0, uploaded.body.id, async () => {
      const started = await call(2, 'POST', `/imports/${uploaded.body.id}/start`, {});
      expect(started.status).toBe(202);
    });
    expect(ended.error).toBeNull();
    expect(ended.status).toBe('succeeded');
    expect(ended.rowsImported).toBe(ROWS);

    // The dataset was written by the worker that ran the job, which holds it now.
    const lease = await t.db
      .selectFrom('dataset_lease')
      .select('owner_url')
      .where('dataset_id', '=', ended.datasetId!)
      .executeTakeFirstOrThrow();
    expect([t.url(1), t.url(2)]).toContain(lease.owner_url);

    // Read through the api server (forwarded to the holder): every row as uploaded.
    const dataset = (await call(0, 'GET', `/datasets/${ended.datasetId}`)).body as {
      columns: { id: string; name: string }[];
    };
    const [name, amount] = dataset.columns;
    expect([name?.name, amount?.name]).toEqual(['name', 'amount']);
    const window = await call(0, 'GET', `/datasets/${ended.datasetId}/rows?limit=1000`);
    expect(window.status).toBe(200);
    const rows = (
      window.body as { rows: { cells: Record<string, { value: unknown }> }[] }
    ).rows.map((row) => [row.cells[name!.id]?.value, row.cells[amount!.id]?.value]);
    expect(rows).toEqual(Array.from({ length: ROWS }, (_, index) => [`item ${index}`, index * 3]));

    // The import removed the upload it read.
    expect(readdirSync(uploadsFolder())).toEqual([]);
  });

  it('a hostile file name started at once through the api server: stored under a random name in the shared folder, shown as display data only', async () => {
    const answer = await upload(0, '../../../../etc/passwd.csv', 'a,b\n1,2\n3,4\n', '?start=true');
    expect(answer.status).toBe(201);
    expect(answer.body.status).toBe('queued');
    const ended = await eventually(
      async () => (await call(0, 'GET', `/imports/${answer.body.id}`)).body as ImportView,
      (view) => !['queued', 'running'].includes(view.status),
      { what: 'the import to end', timeoutMs: 120_000, intervalMs: 100 },
    );
    expect(ended.status).toBe('succeeded');
    expect(ended.rowsImported).toBe(2);
    const dataset = (await call(0, 'GET', `/datasets/${ended.datasetId}`)).body as {
      name: string;
    };
    expect(dataset.name).toBe('passwd');
    // Nothing was written next to the shared folder or in any server's data dir.
    expect(readdirSync(path.dirname(t.cluster.sharedDir)).sort()).toEqual(
      ['seed', 'servers', 'shared'].sort(),
    );
    expect(readdirSync(uploadsFolder())).toEqual([]);
  });
});
