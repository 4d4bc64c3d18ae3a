import { readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { AppError } from '../../platform/app-error.ts';
import { errorRecord, type ImportContext } from './import-context.ts';

/** A running import writes its heartbeat every second; this long without one, it has stalled. */
export const STALL_SECONDS = 30;

/**
 * A part of a CSV cut for reading in parts, which imports did until 2026-12-07: a server that
 * stopped mid-read before then can have left some in the import directory.
 */
const isPartFile = (name: string) => /^part-[0-9a-f-]{36}\.csv$/.test(name);

/**
 * What imports leave behind: imports whose server stopped mid-read (recoverStalled, every
 * minute) and uploads never started (purgeExpiredUploads, hourly), with their files.
 */
export function createImportCleanup(context: ImportContext) {
  const { store, logger, settings, running, dir, uploadDir, discardImportData, announceEnd } =
    context;
  return {
    /**
     * Fails the imports whose server stopped while they ran (no heartbeat for STALL_SECONDS):
     * their partial table and dataset are dropped and `import-end` is sent, so nothing stays
     * `running` or `importing` after a crash. Parts of a CSV an older version read in
     * parts are removed when no import runs in this process. Returns how many imports it failed.
     */
    async recoverStalled(staleSeconds = STALL_SECONDS) {
      const error = new AppError(
        'SERVICE_UNAVAILABLE',
        'The import stopped because the server running it stopped; start a new import',
      );
      const claimed = await store.claimStalledImports(staleSeconds, errorRecord(error));
      for (const row of claimed) {
        // Alive here after all (its beats failed to reach the database): stop it, and its own
        // failure path cleans up.
        const local = running.get(row.id);
        if (local) {
          local.abort(error);
          continue;
        }
        // The claim recorded the failure; what remains is to drop what the import left.
        await discardImportData(row);
        await announceEnd(row.id);
      }
      if (running.size === 0) {
        const names = await readdir(dir()).catch(() => [] as string[]);
        for (const name of names.filter(isPartFile))
          await rm(path.join(dir(), name), { force: true }).catch(() => {});
      }
      if (claimed.length > 0) logger.warn({ imports: claimed.length }, 'failed stalled imports');
      return claimed.length;
    },

    /**
     * Uploads never started within the retention time are cancelled and their files removed;
     * so are files in the import directory that no pending import needs and that are older
     * than the retention (left by a crash between the upload and its row). `now` is the
     * clock (tests pass a later one). Returns how many uploads it cancelled.
     */
    async purgeExpiredUploads(now = Date.now()) {
      const retentionMs = settings.importUploadRetentionHours * 3_600_000;
      const cutoff = new Date(now - retentionMs);
      const error = new AppError(
        'CONFLICT',
        `The upload was not imported within ${settings.importUploadRetentionHours} hours and was removed; upload it again`,
      );
      const expired = await store.claimExpiredUploads(cutoff, errorRecord(error));
      for (const row of expired) await discardImportData(row);
      const pending = new Set(
        (await store.pendingImportFiles()).map((file) => path.basename(file)),
      );
      // Stray files of the working folder only while no import runs here (its temp copies are
      // not in the table); the shared upload folder holds nothing but uploads, each in the table.
      const folders = running.size === 0 ? [dir()] : [];
      if (uploadDir() !== dir()) folders.push(uploadDir());
      const files = { removed: 0 };
      for (const folder of folders)
        for (const name of await readdir(folder).catch(() => [] as string[])) {
          if (pending.has(name)) continue;
          const file = path.join(folder, name);
          const info = await stat(file).catch(() => undefined);
          if (!info?.isFile() || info.mtimeMs >= cutoff.getTime()) continue;
          await rm(file, { force: true }).catch(() => {});
          files.removed++;
        }
      if (expired.length > 0 || files.removed > 0)
        logger.info({ uploads: expired.length, files: files.removed }, 'purged expired uploads');
      return expired.length;
    },
  };
}
