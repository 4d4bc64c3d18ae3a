import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { streamToTempFile } from './import-files.ts';

describe('streamToTempFile', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'bc-import-files-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  async function* bytes(total: number, chunk: number) {
    for (let sent = 0; sent < total; sent += chunk)
      yield Buffer.alloc(Math.min(chunk, total - sent), 'a');
  }

  it('writes the bytes under a random name and counts them', async () => {
    const written = await streamToTempFile(bytes(300_000, 65_536), dir, 1_000_000);
    expect(written.size).toBe(300_000);
    expect(path.dirname(written.path)).toBe(dir);
    expect(readFileSync(written.path).length).toBe(300_000);
  });

  it('leaves no file behind past the cap, even when the first chunk is over it', async () => {
    // Refused before the stream has even opened its file: the file system's thread pool may
    // open it after the removal unless the removal waits for the stream to close. Many at
    // once make that race likely (it left files behind before the fix).
    for (let round = 0; round < 10; round++) {
      const outcomes = await Promise.allSettled(
        Array.from({ length: 40 }, () => streamToTempFile(bytes(4_096, 4_096), dir, 1_024)),
      );
      for (const outcome of outcomes)
        expect(outcome).toMatchObject({
          status: 'rejected',
          reason: { code: 'PAYLOAD_TOO_LARGE' },
        });
    }
    await expect(streamToTempFile(bytes(5_000_000, 65_536), dir, 1_000_000)).rejects.toMatchObject({
      code: 'PAYLOAD_TOO_LARGE',
    });
    expect(readdirSync(dir)).toEqual([]);
  });
});
