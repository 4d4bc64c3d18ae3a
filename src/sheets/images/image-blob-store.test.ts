import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createImageBlobStore } from './image-blob-store.ts';

const dataDir = mkdtempSync(path.join(os.tmpdir(), 'braincells-image-blobs-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

describe('image blob store', () => {
  it('writes again into a shard folder removed behind its back (the folder is made again)', async () => {
    const blobs = createImageBlobStore(dataDir);
    const first = `abcd${'0'.repeat(60)}`;
    const second = `abcd${'1'.repeat(60)}`;
    await blobs.putOriginal(first, Buffer.from('one'));
    rmSync(path.join(blobs.root, 'sha256'), { recursive: true });
    await blobs.putOriginal(second, Buffer.from('two'));
    expect(readFileSync(blobs.originalPath(second), 'utf8')).toBe('two');
    await blobs.putOriginal(first, Buffer.from('one'));
    expect(readFileSync(blobs.originalPath(first), 'utf8')).toBe('one');
  });
});
