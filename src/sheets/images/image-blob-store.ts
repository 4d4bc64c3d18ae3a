import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { rename, rm, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';

const SHA256 = /^[0-9a-f]{64}$/;

/**
 * The content-addressed image files under the data dir (docs/decisions/2026-12-06-image-blobs-
 * on-disk.md): originals at `blobs/sha256/ab/cd/<sha256>`, thumbnails at
 * `blobs/thumbnails/ab/cd/<sha256>.webp`. A file is written under a random name in
 * `blobs/incoming` and renamed into place, so a reader never sees half a file; the same content
 * twice is one file. Paths come from the hash only, never from a name a client chose. Which
 * project may read which hash is the metadata store's business (image-store.ts).
 */
export function createImageBlobStore(dataDir: string) {
  const root = path.join(dataDir, 'blobs');
  const incoming = path.join(root, 'incoming');
  const shard = (kind: string, sha256: string, suffix = '') => {
    if (!SHA256.test(sha256)) throw new Error('not a sha256');
    return path.join(root, kind, sha256.slice(0, 2), sha256.slice(2, 4), `${sha256}${suffix}`);
  };
  const originalPath = (sha256: string) => shard('sha256', sha256);
  const thumbnailPath = (sha256: string) => shard('thumbnails', sha256, '.webp');
  // Folders this process has made (two mkdir calls per file otherwise; at most 65,536 shards a
  // kind). One removed behind our back fails the write with ENOENT: it is made again and the
  // write retried once.
  const made = new Set<string>();
  const folder = (dir: string) => {
    if (made.has(dir)) return;
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    made.add(dir);
  };

  /** Writes bytes to `target` through a temp file and a rename; an existing file is kept (touched). */
  async function place(target: string, bytes: Buffer, retried = false): Promise<void> {
    if (existsSync(target)) {
      // The same bytes stored again: its time is renewed, so the blob sweep keeps it.
      const now = new Date();
      await utimes(target, now, now).catch(() => {});
      return;
    }
    folder(incoming);
    folder(path.dirname(target));
    const temp = path.join(incoming, `${randomUUID()}.part`);
    try {
      await writeFile(temp, bytes, { flag: 'wx', mode: 0o600 });
      await rename(temp, target);
    } catch (error) {
      await rm(temp, { force: true });
      if (retried || (error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      made.clear();
      return place(target, bytes, true);
    }
  }

  return {
    root,
    incoming,
    originalPath,
    thumbnailPath,
    hasOriginal: (sha256: string) => existsSync(originalPath(sha256)),
    hasThumbnail: (sha256: string) => existsSync(thumbnailPath(sha256)),
    putOriginal: (sha256: string, bytes: Buffer) => place(originalPath(sha256), bytes),
    putThumbnail: (sha256: string, bytes: Buffer) => place(thumbnailPath(sha256), bytes),
    /** A fresh temp path in `incoming` (for streamed uploads); the caller removes it. */
    tempPath: () => {
      folder(incoming);
      return path.join(incoming, `${randomUUID()}.part`);
    },
  };
}
export type ImageBlobStore = ReturnType<typeof createImageBlobStore>;
