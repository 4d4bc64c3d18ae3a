import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, expect, it } from 'vitest';
import { createProjectWithMembers } from '../../../test/factories.ts';
import {
  createTestStorage,
  openTestPlatform,
  type TestApp,
  type TestStorage,
} from '../../../test/test-platform.ts';
import { buildApp } from '../../app.ts';
import { readEventsUntil } from './sse-test-helpers.ts';

// A grid that reconnects after the server restarted resumes after its Last-Event-ID (the
// bus's ids and recent events are in the metadata database) instead of reloading.
let storage: TestStorage | undefined;
let current: TestApp | undefined;

async function start(): Promise<TestApp> {
  storage ??= await createTestStorage('pglite');
  const platform = await openTestPlatform(storage, { jobsEnabled: false });
  const app = await buildApp(platform);
  await app.ready();
  await app.listen({ port: 0, host: '127.0.0.1' });
  current = { app, platform, storage, close: async () => {} };
  return current;
}

async function stop(t: TestApp) {
  await t.app.close();
  await t.platform.close();
  current = undefined;
}

afterAll(async () => {
  if (current) await stop(current);
  await storage?.dispose();
});

it('a client from before a restart resumes after its Last-Event-ID, without resync', async () => {
  let t = await start();
  const members = await createProjectWithMembers(t);
  const base = `/api/projects/${members.project.id}/datasets`;
  const created = await t.app.inject({
    method: 'POST',
    url: base,
    headers: members.editor.headers,
    payload: { name: 'Live', rows: 2, columns: [{ name: 'A' }] },
  });
  const dataset = created.json();
  const url = `${base}/${dataset.id}`;
  /** The stream as a client that last saw `lastEventId` reads it, until `until`. */
  const eventsAfter = (lastEventId: string, until: string) =>
    readEventsUntil(
      t.app,
      `${url}/events`,
      { ...members.viewer.headers, 'last-event-id': lastEventId },
      until,
    );
  const edit = await t.app.inject({
    method: 'PATCH',
    url: `${url}/cells`,
    headers: members.editor.headers,
    payload: { rowId: '1', columnId: dataset.columns[0].id, expectedVersion: 0, value: 'x' },
  });
  expect(edit.statusCode).toBe(200);
  const appended = await t.app.inject({
    method: 'POST',
    url: `${url}/rows`,
    headers: members.editor.headers,
    payload: { rows: [{ [dataset.columns[0].id]: 'y' }] },
  });
  expect(appended.statusCode).toBeLessThan(300);
  // The client saw event 1 (the edit) before the server went away.
  const seen = await eventsAfter('0', 'rows-append');
  expect(seen).toContain('id: 1\nevent: cells-update\n');
  expect(seen).toContain('id: 2\nevent: rows-append\n');

  await stop(t);
  t = await start();
  const window = await t.app.inject({
    method: 'GET',
    url: `${url}/rows?limit=10`,
    headers: members.viewer.headers,
  });
  expect(window.json().lastEventId).toBe(2);
  const resumed = await eventsAfter('1', 'rows-append');
  expect(resumed).toContain('id: 2\nevent: rows-append\n');
  expect(resumed).not.toContain('resync');
  expect(resumed).not.toContain('id: 1\n');
  // New events go on from there.
  await t.app.inject({
    method: 'PATCH',
    url: `${url}/cells`,
    headers: members.editor.headers,
    payload: { rowId: '2', columnId: dataset.columns[0].id, expectedVersion: 0, value: 'z' },
  });
  const next = await eventsAfter('2', 'cells-update');
  expect(next).toContain('id: 3\nevent: cells-update\n');

  // A Last-Event-ID the server never gave (forged, or from a lost write) reloads; one that is
  // not a plain number is ignored (a fresh stream), never an error.
  const forged = await eventsAfter('999999999999999', 'event: resync');
  expect(forged).toContain('id: 3\nevent: resync\n');
  for (const junk of ["1' or '1'='1", '-1', '1e3', '0x10']) {
    const port = (t.app.server.address() as AddressInfo).port;
    const request = http.get(`http://127.0.0.1:${port}${url}/events`, {
      headers: { ...members.viewer.headers, 'last-event-id': junk },
    });
    const response = await new Promise<http.IncomingMessage>((resolve) =>
      request.on('response', resolve),
    );
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toContain('text/event-stream');
    request.destroy();
  }
});
