import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProjectWithMembers, type ProjectWithMembers } from '../../../test/factories.ts';
import { projectPerSuite, testAppPerSuite } from '../../../test/per-suite.ts';
import {
  createSecondServer,
  createTestApp,
  type TestApp,
  testBackends,
} from '../../../test/test-platform.ts';
import {
  FORWARDED_IDENTITY_HEADER,
  type ForwardedIdentity,
  forwardingKey,
  signForwardedIdentity,
  verifyForwardedIdentity,
} from './dataset-forwarding.ts';

const SECRET = 'forwarding-test-secret-0123456789abcdef';
const OTHER_SECRET = 'another-deployment-secret-0123456789abcdef';
const NOW = Date.parse('2026-12-06T12:00:00Z');

describe('forwarded identities', () => {
  const key = forwardingKey(SECRET);
  const request = { method: 'PATCH', url: '/api/projects/p/datasets/d/cells' };
  const identity: ForwardedIdentity = {
    actor: { userId: 'u', isAdmin: false, via: 'session', scopes: ['read'], credentialId: 'c' },
    ...request,
    expiresAt: NOW + 10_000,
  };
  const signed = signForwardedIdentity(key, identity);
  const [body, mac] = signed.split('.') as [string, string];
  const forged = (changes: Partial<ForwardedIdentity>) =>
    `${Buffer.from(JSON.stringify({ ...identity, ...changes })).toString('base64url')}.${mac}`;

  it.each([
    ['accepts a header we signed for this request', signed, request, true],
    ['refuses no signature', body, request, false],
    ['refuses an empty signature', `${body}.`, request, false],
    [
      'refuses a signature by another deployment',
      signForwardedIdentity(forwardingKey(OTHER_SECRET), identity),
      request,
      false,
    ],
    [
      'refuses the identity changed to an admin under the old signature',
      forged({ actor: { userId: 'u', isAdmin: true } }),
      request,
      false,
    ],
    [
      'refuses another route',
      signed,
      { ...request, url: '/api/projects/p/datasets/d/rows' },
      false,
    ],
    ['refuses another method', signed, { ...request, method: 'DELETE' }, false],
    ['refuses an extra part', `${signed}.x`, request, false],
    ['refuses not base64 JSON', `%%%.${mac}`, request, false],
    ['refuses a huge header', `${'a'.repeat(10_000)}.${mac}`, request, false],
  ])('%s', (_label, header, against, accepted) => {
    const result = verifyForwardedIdentity(key, header, against, NOW);
    if (accepted) expect(result).toEqual(identity);
    else expect(result).toBeUndefined();
  });

  it('refuses an expired identity, one that claims to live too long, and any without a key', () => {
    expect(verifyForwardedIdentity(key, signed, request, identity.expiresAt)).toBeUndefined();
    const forever = signForwardedIdentity(key, { ...identity, expiresAt: NOW + 3_600_000 });
    expect(verifyForwardedIdentity(key, forever, request, NOW)).toBeUndefined();
    expect(verifyForwardedIdentity(undefined, signed, request, NOW)).toBeUndefined();
  });
});

describe('the forwarded-identity header under attack', () => {
  const t = testAppPerSuite({ config: { secret: { current: SECRET, previous: [] } } });
  const members = projectPerSuite(t);
  let cells: string;
  let columnId: string;

  beforeAll(async () => {
    const dataset = (
      await t.app.inject({
        method: 'POST',
        url: `/api/projects/${members.project.id}/datasets`,
        headers: members.editor.headers,
        payload: { name: 'Target', rows: 1, columns: [{ name: 'T' }] },
      })
    ).json() as { id: string; columns: { id: string }[] };
    cells = `/api/projects/${members.project.id}/datasets/${dataset.id}/cells`;
    columnId = dataset.columns[0]!.id;
  });

  const patch = (header: string, value: string) =>
    t.app.inject({
      method: 'PATCH',
      url: cells,
      headers: { [FORWARDED_IDENTITY_HEADER]: header, 'content-type': 'application/json' },
      payload: { rowId: '1', columnId, expectedVersion: 0, value },
    });
  const asOwner = (changes: Partial<ForwardedIdentity> = {}) => ({
    actor: members.owner.actor,
    method: 'PATCH',
    url: cells,
    expiresAt: Date.now() + 20_000,
    ...changes,
  });

  it('answers 401 to an unsigned, forged, foreign, expired or misdirected identity, writing nothing', async () => {
    const unsigned = Buffer.from(JSON.stringify(asOwner())).toString('base64url');
    const attempts = [
      unsigned,
      `${unsigned}.${'A'.repeat(43)}`,
      signForwardedIdentity(forwardingKey(OTHER_SECRET), asOwner()),
      signForwardedIdentity(forwardingKey(SECRET), asOwner({ expiresAt: Date.now() - 1 })),
      signForwardedIdentity(forwardingKey(SECRET), asOwner({ url: `${cells}?x=1` })),
      signForwardedIdentity(forwardingKey(SECRET), asOwner({ method: 'POST' })),
    ];
    for (const header of attempts) {
      const response = await patch(header, 'forged');
      expect(response.statusCode, header).toBe(401);
      expect(response.json().error.code).toBe('UNAUTHENTICATED');
    }
    // The header is not ignored in favour of other credentials either.
    const withCookie = await t.app.inject({
      method: 'PATCH',
      url: cells,
      headers: { ...members.owner.headers, [FORWARDED_IDENTITY_HEADER]: unsigned },
      payload: { rowId: '1', columnId, expectedVersion: 0, value: 'forged' },
    });
    expect(withCookie.statusCode).toBe(401);

    // One signed by this deployment for this very request is the caller it names.
    const accepted = await patch(signForwardedIdentity(forwardingKey(SECRET), asOwner()), 'real');
    expect(accepted.statusCode).toBe(200);
    expect(accepted.json()).toMatchObject({ value: 'real', version: 1 });
  });
});

// Two whole servers need one database they both reach: PostgreSQL.
describe.each(testBackends().filter((backend) => backend === 'postgres'))(
  'a dataset request to a server that does not hold it (%s)',
  (backend) => {
    let owner: TestApp;
    let other: TestApp;
    let shared: string;
    let members: ProjectWithMembers;
    let base: string;
    let dataset: { id: string; columns: { id: string }[] };

    beforeAll(async () => {
      shared = mkdtempSync(path.join(os.tmpdir(), 'bc-forward-shared-'));
      const config = { secret: { current: SECRET, previous: [] }, storageDir: shared };
      owner = await createTestApp({ backend, config });
      await owner.app.listen({ host: '127.0.0.1', port: 0 });
      const { port } = owner.app.server.address() as AddressInfo;
      owner.platform.config.datasets.internalUrl = `http://127.0.0.1:${port}`;
      // The second server: its own data dir and DuckDB, the owner's database and storage.
      other = await createSecondServer(owner, { config, startJobs: false });

      members = await createProjectWithMembers(owner);
      base = `/api/projects/${members.project.id}/datasets`;
      dataset = (
        await owner.app.inject({
          method: 'POST',
          url: base,
          headers: members.editor.headers,
          payload: { name: 'Owned by the first server', rows: 2, columns: [{ name: 'T' }] },
        })
      ).json();
    });
    afterAll(async () => {
      await other?.close();
      await owner?.close();
      rmSync(shared, { recursive: true, force: true });
    });

    /** A cell edit sent to the server that does not hold the dataset. */
    const editThroughOther = (
      headers: Record<string, string>,
      rowId: string,
      expectedVersion: number,
      value: string,
    ) =>
      other.app.inject({
        method: 'PATCH',
        url: `${base}/${dataset.id}/cells`,
        headers,
        payload: { rowId, columnId: dataset.columns[0]!.id, expectedVersion, value },
      });

    it('goes to the owner with the caller and the request id, and answers as the owner would', async () => {
      expect(owner.platform.datasetLeases.holds(dataset.id)).toBe(true);
      const edit = await editThroughOther(
        { ...members.editor.headers, 'x-request-id': 'forwarded-edit-1' },
        '1',
        0,
        'via b',
      );
      expect(edit.statusCode).toBe(200);
      expect(edit.json()).toMatchObject({ value: 'via b', version: 1 });
      expect(edit.headers['x-request-id']).toBe('forwarded-edit-1');
      // The owner served it, as the editor, under the same request id; B never opened the file.
      expect(
        owner.platform.logs.lines.some(
          (line) =>
            line.requestId === 'forwarded-edit-1' &&
            line.msg === 'request completed' &&
            line.status === 200,
        ),
      ).toBe(true);
      expect(other.platform.duckdb.datasets.attached()).not.toContain(dataset.id);

      // A stale write gets the owner's compare-and-set conflict.
      const stale = await editThroughOther(members.editor.headers, '1', 0, 'late');
      expect(stale.statusCode).toBe(409);

      const window = await other.app.inject({
        method: 'GET',
        url: `${base}/${dataset.id}/rows?limit=10`,
        headers: members.viewer.headers,
      });
      expect(window.statusCode).toBe(200);
      expect(window.json().rows[0].cells[dataset.columns[0]!.id].value).toBe('via b');

      // Roles are still checked, by the owner, for the forwarded caller.
      const refused = await editThroughOther(members.viewer.headers, '2', 0, 'x');
      expect(refused.statusCode).toBe(403);
    });
  },
);
