import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { monitorFilePath, monitorLeaseKey } from '../../src/monitor/monitor-files.ts';
import {
  claudeFiles,
  multipartFiles,
  writeClaudeProjects,
} from '../../src/monitor/monitor-test-helpers.ts';
import { eventually } from '../eventually.ts';
import { testDatabaseUrl } from '../test-postgres.ts';
import { reachable, TEST_REDIS_URL } from '../test-redis.ts';
import { clusterPerFile } from './cluster-harness.ts';

// Issue #20 item 6 for the monitor, with real processes: three `all` servers on one PostgreSQL
// and one shared storage folder. A project's monitor tables live in their own DuckDB file under
// that folder, held by one server at a time (src/monitor/monitor-files.ts); a request reaching
// another server is forwarded to the holder.
const ready = testDatabaseUrl() !== undefined && (await reachable(TEST_REDIS_URL));

interface SessionItem {
  sessionKey: string;
  tokens: Record<string, number>;
  costUsd: number | null;
}

describe.runIf(ready)('monitor data in a cluster of three servers', { timeout: 300_000 }, () => {
  const logs = mkdtempSync(path.join(os.tmpdir(), 'cluster-monitor-logs-'));
  afterAll(() => rmSync(logs, { recursive: true, force: true }));
  const t = clusterPerFile({
    roles: ['all', 'all', 'all'],
    fixedPorts: true,
    env: {
      // A dead holder's files are taken over after 6 s.
      BRAINCELLS_DATASET_LEASE_TTL: '6s',
      BRAINCELLS_SHUTDOWN_TIMEOUT_MS: '2000',
    },
  });

  const monitorUrl = (server: number) =>
    `${t.url(server)}/api/projects/${t.seeded.projectId}/monitor`;
  const sessions = async (server: number) => {
    const response = await fetch(`${monitorUrl(server)}/sessions`, { headers: t.headers });
    return { status: response.status, body: (await response.json()) as { items: SessionItem[] } };
  };
  /** The session report with its grand totals, retried while the file changes hands (503). */
  const report = async (server: number) => {
    const answer = await eventually(
      () => sessions(server),
      (response) => response.status !== 503,
      { what: "the project's monitor data to be served", timeoutMs: 90_000, intervalMs: 200 },
    );
    expect(answer.status).toBe(200);
    const items = [...answer.body.items].sort((a, b) => a.sessionKey.localeCompare(b.sessionKey));
    const totals: Record<string, number> = {};
    for (const item of items)
      for (const [bucket, count] of Object.entries(item.tokens))
        totals[bucket] = (totals[bucket] ?? 0) + count;
    return { items, totals };
  };
  const holder = async () => {
    const lease = await t.db
      .selectFrom('dataset_lease')
      .select(['owner_url'])
      .where('dataset_id', '=', monitorLeaseKey(t.seeded.projectId))
      .executeTakeFirst();
    return t.cluster.servers.findIndex((server) => server.url === lease?.owner_url);
  };

  it('an import through one server is read with equal totals through the others, and after a kill -9 of the holder', async () => {
    const { projects } = writeClaudeProjects(logs);
    const upload = multipartFiles(claudeFiles(projects));
    const imported = await fetch(`${monitorUrl(0)}/uploads`, {
      method: 'POST',
      headers: { authorization: t.headers.authorization!, 'content-type': upload.contentType },
      body: upload.payload,
    });
    expect(imported.status).toBe(200);
    expect(await imported.json()).toMatchObject({ files: 3, sessions: 3 });
    expect(await holder()).toBe(0);
    expect(
      existsSync(monitorFilePath(path.join(t.cluster.sharedDir, 'monitor'), t.seeded.projectId)),
    ).toBe(true);

    const onHolder = await report(0);
    expect(onHolder.items.length).toBeGreaterThanOrEqual(3);
    expect(onHolder.totals.output).toBeGreaterThan(0);
    expect(await report(1)).toEqual(onHolder);
    expect(await report(2)).toEqual(onHolder);
    // Served by the holder: neither other server took the file.
    expect(await holder()).toBe(0);

    await t.cluster.kill(0);
    // Through server 1: 503 while the dead holder's lease runs, then served by whoever took it.
    expect(await report(1)).toEqual(onHolder);
    const taken = await holder();
    expect([1, 2]).toContain(taken);
    expect(await report(2)).toEqual(onHolder);
    // Uploading the same logs again, through the server that does not hold the file, changes
    // no total.
    const other = taken === 1 ? 2 : 1;
    const again = await fetch(`${monitorUrl(other)}/uploads`, {
      method: 'POST',
      headers: { authorization: t.headers.authorization!, 'content-type': upload.contentType },
      body: upload.payload,
    });
    expect(again.status).toBe(200);
    expect(await report(other)).toEqual(onHolder);
    await t.cluster.start(0);
    expect(await report(0)).toEqual(onHolder);
  });
});
