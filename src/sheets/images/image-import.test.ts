import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runInNewContext } from 'node:vm';
import { afterAll, describe, expect, it } from 'vitest';
import { createImageBlobStore } from './image-blob-store.ts';
import { createGarbageBound, createRowSpool, receiveImageParts } from './image-import.ts';
import { zipOf } from './image-test-fixtures.ts';

const dataDir = mkdtempSync(path.join(os.tmpdir(), 'braincells-image-import-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));
const blobs = createImageBlobStore(dataDir);
const MAX_BYTES = 3 * 1024 * 1024;

/** A part as the multipart parser hands it over: its bytes in chunks of `chunk` bytes. */
const part = (filename: string, bytes: Buffer, chunk = 64 * 1024) => ({
  filename,
  file: (async function* () {
    for (let at = 0; at < bytes.length; at += chunk) yield bytes.subarray(at, at + chunk);
  })(),
});
async function* partsOf(list: ReturnType<typeof part>[]) {
  yield* list;
}

/** Each part's images as they were handed on (copied: the receive buffer is reused). */
async function receive(
  list: ReturnType<typeof part>[],
  zipMaxBytes = 8 * MAX_BYTES,
  garbage = createGarbageBound(),
) {
  const seen: { source: string; name: string; bytes?: Buffer; refused?: string }[] = [];
  for await (const source of receiveImageParts(
    partsOf(list),
    blobs,
    { maxBytes: MAX_BYTES, zipMaxBytes },
    garbage,
  ))
    for (const image of source.images)
      seen.push(
        'refused' in image
          ? { source: source.name, name: image.name, refused: image.refused }
          : { source: source.name, name: image.name, bytes: Buffer.from(image.bytes) },
      );
  return seen;
}

describe('receiveImageParts', () => {
  it('hands on every part with its own bytes while one buffer is reused and grown', async () => {
    // Sizes chosen so the buffer (1 MiB at first) grows twice and is reused smaller and larger.
    const files = [
      randomBytes(2_500_000),
      randomBytes(10),
      randomBytes(1_500_000),
      randomBytes(MAX_BYTES),
      randomBytes(MAX_BYTES + 1),
      randomBytes(3),
    ];
    const seen = await receive(files.map((bytes, at) => part(`f${at}`, bytes, 7_000 + at)));
    expect(seen.map((image) => image.name)).toEqual(['f0', 'f1', 'f2', 'f3', 'f4', 'f5']);
    for (const at of [0, 1, 2, 3, 5])
      expect(seen[at]!.bytes!.equals(files[at]!), `f${at}`).toBe(true);
    expect(seen[4]!.refused).toBe(`The image is larger than the limit of ${MAX_BYTES} bytes`);
  });

  it('knows a ZIP by its first bytes even when they come split over chunks', async () => {
    const inner = randomBytes(1000);
    const zip = await zipOf([
      { name: 'a.png', bytes: inner },
      { name: '__MACOSX/._a.png', bytes: 'x' },
    ]);
    const seen = await receive([part('one.zip', zip, 2), part('two.bin', randomBytes(5))]);
    expect(seen.map(({ source, name }) => [source, name])).toEqual([
      ['one.zip', 'a.png'],
      ['two.bin', 'two.bin'],
    ]);
    expect(seen[0]!.bytes!.equals(inner)).toBe(true);
    // The ZIP's temp file is gone once its part is done.
    expect(readdirSync(blobs.incoming)).toEqual([]);
  });

  it('collects the chunks it is done with every so many bytes, as a server started without --expose-gc', async () => {
    const garbage = createGarbageBound(1_000_000);
    // 2.5 MB in chunks of 100 KB: a collection after the 10th and the 20th chunk.
    await receive([part('a.bin', randomBytes(2_500_000), 100_000)], undefined, garbage);
    expect(garbage.collections).toBe(2);
    // A ZIP's entry counts three times: received, read back from the temp file, inflated.
    const inner = randomBytes(1_500_000);
    const seen = await receive(
      [part('b.zip', await zipOf([{ name: 'b.png', bytes: inner }]), 100_000)],
      undefined,
      garbage,
    );
    expect(seen[0]!.bytes!.equals(inner)).toBe(true);
    expect(garbage.collections).toBeGreaterThanOrEqual(2 + 4);
    // The collector was taken without leaving `gc` to the program or to a new context.
    expect(typeof (globalThis as { gc?: unknown }).gc).toBe('undefined');
    expect(runInNewContext('typeof gc')).toBe('undefined');
  });

  it('refuses a part past the upload limit (413) and a broken ZIP (400 naming it), leaving no temp file', async () => {
    await expect(
      receive([part('ok.png', randomBytes(10)), part('huge.png', randomBytes(5000))], 4096),
    ).rejects.toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
    await expect(
      receive([
        part('ok.png', randomBytes(10)),
        part('broken.zip', Buffer.concat([Buffer.from('PK\u0003\u0004'), Buffer.alloc(100)])),
      ]),
    ).rejects.toMatchObject({ code: 'VALIDATION_ERROR', message: /^broken\.zip: / });
    expect(readdirSync(blobs.incoming)).toEqual([]);
  });

  it('spools rows to disk and reads them back in order, in batches, then removes its file', async () => {
    const file = blobs.tempPath();
    const spool = createRowSpool<{ name: string; at: number }>(file);
    for (let at = 0; at < 450; at++) await spool.add({ name: `line\nbreak ${at}`, at });
    expect(spool.count).toBe(450);
    const batches: number[][] = [];
    for await (const batch of spool.batches(200)) batches.push(batch.map((row) => row.at));
    expect(batches.map((batch) => batch.length)).toEqual([200, 200, 50]);
    expect(batches.flat()).toEqual(Array.from({ length: 450 }, (_, at) => at));
    await spool.close();
    expect(readdirSync(blobs.incoming)).toEqual([]);
  });
});
