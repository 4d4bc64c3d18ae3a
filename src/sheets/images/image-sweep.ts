import { readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { DuckDb } from '../../platform/duckdb/duckdb.ts';
import type { Logger } from '../../platform/logger.ts';
import { datasetTable, valueColumn } from '../sheet-query.ts';
import type { ImageBlobStore } from './image-blob-store.ts';
import type { ImageStore } from './image-store.ts';

const SHA256 = /^[0-9a-f]{64}$/;
const BATCH = 500;

/** The hashes of a project's images another feature refers to (chat: its messages). */
export type ImageReferenceSource = (projectId: string) => Promise<Iterable<string>>;

export interface SweepResult {
  /** Project links dropped: no cell of the project refers to the image any more. */
  unlinked: number;
  /** Originals (with their thumbnails) deleted: no project holds them. */
  removed: number;
  /** Orphan thumbnails and abandoned temp files deleted. */
  leftovers: number;
}

/**
 * The blob sweep (docs/images.md "Blob sweep"), in two steps, each only past the grace period:
 * 1. a project's link to an image stored longer ago than the grace period is dropped when no
 *    cell of the project's datasets (deleted ones included, until purged) refers to it, nor
 *    any other holder (`references`: chat messages). Storing
 *    the bytes again renews the link, so an image a running import or a generation has just
 *    stored — linked, its row not yet written — is never dropped; a project whose cells cannot
 *    be read is skipped, never swept on a guess;
 * 2. an original no project links to, whose file is older than the grace period, is deleted
 *    with its thumbnail; so are thumbnails without an original and temp files left in
 *    `incoming/` by a crash.
 */
export function createImageSweep(deps: {
  store: Pick<
    ImageStore,
    'projectsWithLinksBefore' | 'linksBefore' | 'unlink' | 'heldByAny' | 'imageColumns'
  >;
  blobs: Pick<ImageBlobStore, 'root' | 'incoming' | 'originalPath' | 'thumbnailPath'>;
  duckdb: DuckDb;
  logger: Logger;
  graceMs: number;
  /**
   * Other holders of a project's images (chat messages): hashes they refer to stay linked.
   * Read per project when the sweep runs, so a holder added after start counts.
   */
  references?: readonly ImageReferenceSource[];
}) {
  const { store, blobs, duckdb, logger, graceMs } = deps;
  const references = deps.references ?? [];

  /** Every hash a cell of the project refers to; undefined when a table cannot be read. */
  async function referencedBy(projectId: string): Promise<Set<string> | undefined> {
    const referenced = new Set<string>();
    for (const column of await store.imageColumns(projectId)) {
      try {
        await duckdb.datasets.open(column.datasetId);
        const rows = await duckdb.query<{ sha: string | null }>(
          `select distinct json_extract_string(${valueColumn(column.columnId)}, '$.sha256') as sha from ${datasetTable(column.datasetId)} where ${valueColumn(column.columnId)} is not null`,
        );
        for (const row of rows) if (row.sha) referenced.add(row.sha);
      } catch (error) {
        // A dataset still importing has no table yet; anything else: do not guess.
        if (/does not exist/i.test(String((error as Error).message))) continue;
        logger.warn({ err: error, projectId }, 'image sweep skipped a project it cannot read');
        return undefined;
      }
    }
    try {
      for (const source of references)
        for (const sha of await source(projectId)) referenced.add(sha);
    } catch (error) {
      logger.warn({ err: error, projectId }, 'image sweep skipped a project it cannot read');
      return undefined;
    }
    return referenced;
  }

  /** Files under `dir` (two levels of shards), with their modification times. */
  async function* files(
    dir: string,
  ): AsyncGenerator<{ file: string; name: string; mtimeMs: number }> {
    for (const first of await readdir(dir).catch(() => [] as string[]))
      for (const second of await readdir(path.join(dir, first)).catch(() => [] as string[]))
        for (const name of await readdir(path.join(dir, first, second)).catch(
          () => [] as string[],
        )) {
          const file = path.join(dir, first, second, name);
          const info = await stat(file).catch(() => undefined);
          if (info?.isFile()) yield { file, name, mtimeMs: info.mtimeMs };
        }
  }

  return {
    async sweep(now = Date.now()): Promise<SweepResult> {
      const cutoff = new Date(now - graceMs);
      const result: SweepResult = { unlinked: 0, removed: 0, leftovers: 0 };

      for (const projectId of await store.projectsWithLinksBefore(cutoff)) {
        const referenced = await referencedBy(projectId);
        if (!referenced) continue;
        const stale = (await store.linksBefore(projectId, cutoff)).filter(
          (sha) => !referenced.has(sha),
        );
        for (let start = 0; start < stale.length; start += BATCH)
          result.unlinked += await store.unlink(
            projectId,
            stale.slice(start, start + BATCH),
            cutoff,
          );
      }

      const old: string[] = [];
      const removeUnheld = async () => {
        const held = await store.heldByAny(old);
        for (const sha of old.filter((candidate) => !held.has(candidate))) {
          // Stored again meanwhile (the blob store renews the file's time): kept.
          const info = await stat(blobs.originalPath(sha)).catch(() => undefined);
          if (!info || info.mtimeMs >= cutoff.getTime()) continue;
          await rm(blobs.originalPath(sha), { force: true });
          await rm(blobs.thumbnailPath(sha), { force: true });
          result.removed++;
        }
        old.length = 0;
      };
      for await (const entry of files(path.join(blobs.root, 'sha256'))) {
        if (!SHA256.test(entry.name) || entry.mtimeMs >= cutoff.getTime()) continue;
        old.push(entry.name);
        if (old.length >= BATCH) await removeUnheld();
      }
      await removeUnheld();

      for await (const entry of files(path.join(blobs.root, 'thumbnails'))) {
        const sha = entry.name.replace(/\.webp$/, '');
        if (!SHA256.test(sha) || entry.mtimeMs >= cutoff.getTime()) continue;
        const original = await stat(blobs.originalPath(sha)).catch(() => undefined);
        if (original) continue;
        await rm(entry.file, { force: true });
        result.leftovers++;
      }
      for (const name of await readdir(blobs.incoming).catch(() => [] as string[])) {
        const file = path.join(blobs.incoming, name);
        const info = await stat(file).catch(() => undefined);
        if (!info?.isFile() || info.mtimeMs >= cutoff.getTime()) continue;
        await rm(file, { force: true });
        result.leftovers++;
      }
      if (result.unlinked + result.removed + result.leftovers > 0)
        logger.info({ ...result }, 'image blob sweep');
      return result;
    },
  };
}

export type ImageSweep = ReturnType<typeof createImageSweep>;
