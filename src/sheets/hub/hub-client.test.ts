import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerTestSecret } from '../../../test/leak-scan.ts';
import { type FakeHub, startFakeHub } from '../../../tools/fake-hub/fake-hub-server.ts';
import { createHubClient, type HubFile } from './hub-client.ts';

const TOKEN = 'hf-fake-multipart-token-7c1e9a2b';
/** The part size the stand-in asks for (the Hub's is gigabytes: files over 5 GB). */
const CHUNK = 1024;

describe('multipart LFS upload (a local Hub stand-in with a small part size)', () => {
  let hub: FakeHub;
  let dir: string;
  const client = () => createHubClient({ baseUrl: hub.url, token: TOKEN });

  beforeAll(async () => {
    registerTestSecret('provider-key', TOKEN);
    hub = await startFakeHub({ tokens: { [TOKEN]: 'tester' }, multipartChunkSize: CHUNK });
    dir = mkdtempSync(path.join(os.tmpdir(), 'braincells-hub-client-'));
  });
  afterAll(async () => {
    await hub?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const localFile = (name: string, size: number): HubFile & { bytes: Buffer } => {
    const bytes = randomBytes(size);
    const file = path.join(dir, name);
    writeFileSync(file, bytes);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    return { path: `data/${name}`, file, sha256, size, bytes };
  };

  it('sends a large object in parts to their presigned URLs, completes it, and commits it', async () => {
    await client().createRepo('tester/parts', false);
    const large = localFile('large.parquet', 4 * CHUNK + 100);
    const small = localFile('small.parquet', CHUNK - 1);
    expect(await client().uploadLfs('tester/parts', [large, small])).toEqual({
      uploaded: 2,
      skipped: 0,
    });
    // Five parts in order, each chunk_size long but the last; the small file in one PUT.
    expect(hub.parts.map((part) => [part.partNumber, part.bytes])).toEqual([
      [1, CHUNK],
      [2, CHUNK],
      [3, CHUNK],
      [4, CHUNK],
      [5, 100],
    ]);
    // The presigned part URLs never saw the token (the stand-in refuses one that does).
    const partRequests = hub.requests.filter((request) => request.path.startsWith('/lfs-part/'));
    expect(partRequests).toHaveLength(5);
    expect(partRequests.every((request) => !request.authorized)).toBe(true);
    expect(hub.uploads.map((upload) => upload.oid)).toEqual([large.sha256, small.sha256]);
    await client().commit('tester/parts', 'Publish', [
      { file: large, mode: 'lfs' },
      { file: small, mode: 'lfs' },
    ]);
    expect(hub.repos.get('tester/parts')!.files.get(large.path)!.content.equals(large.bytes)).toBe(
      true,
    );
  });

  it('a part that fails fails the upload with the step named; a retry sends the object whole again', async () => {
    await client().createRepo('tester/retry', false);
    const large = localFile('retry.parquet', 3 * CHUNK);
    hub.failNext('part', { status: 503 });
    const failed = await client()
      .uploadLfs('tester/retry', [large])
      .catch((error: unknown) => error);
    expect(failed).toMatchObject({
      status: 503,
      message: expect.stringMatching(/^Uploading part 1 of 3 of data\/retry\.parquet failed/),
    });
    expect(hub.repos.get('tester/retry')!.objects.size).toBe(0);
    hub.failNext('complete', { status: 500 });
    await expect(client().uploadLfs('tester/retry', [large])).rejects.toMatchObject({
      message: expect.stringMatching(/^Completing the upload of data\/retry\.parquet failed/),
    });
    expect(await client().uploadLfs('tester/retry', [large])).toEqual({ uploaded: 1, skipped: 0 });
    // Held now: asked again, it is skipped.
    expect(await client().uploadLfs('tester/retry', [large])).toEqual({ uploaded: 0, skipped: 1 });
    expect(hub.repos.get('tester/retry')!.objects.get(large.sha256)!.equals(large.bytes)).toBe(
      true,
    );
  });

  it('refuses a multipart answer whose parts do not fit the size, before sending a byte', async () => {
    const file = localFile('odd.parquet', 2 * CHUNK + 1);
    const answered = (header: Record<string, string>) =>
      createHubClient({
        baseUrl: hub.url,
        token: TOKEN,
        fetch: async (input, init) => {
          const target = String(input);
          if (target.endsWith('/objects/batch'))
            return Response.json({
              objects: [
                {
                  oid: file.sha256,
                  size: file.size,
                  actions: { upload: { href: target, header } },
                },
              ],
            });
          throw new Error(`sent ${init?.method} ${target}`);
        },
      });
    const headers: Record<string, string>[] = [
      {
        chunk_size: String(CHUNK),
        '00001': 'http://127.0.0.1:9/a',
        '00002': 'http://127.0.0.1:9/b',
      },
      { chunk_size: '0', '00001': 'http://127.0.0.1:9/a' },
      { chunk_size: String(CHUNK), '00001': 'x', '00002': 'y', '00004': 'z' },
    ];
    for (const header of headers)
      await expect(answered(header).uploadLfs('tester/odd', [file])).rejects.toMatchObject({
        status: 502,
        message: expect.stringContaining('does not fit its size'),
      });
  });
});
