import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { ProjectAccess } from '../../access/project-access.ts';
import { AppError, isAppError, notFound } from '../../platform/app-error.ts';
import type { DuckDb } from '../../platform/duckdb/duckdb.ts';
import type { EventBus } from '../../platform/events.ts';
import type { JobQueue } from '../../platform/jobs/job-queue.ts';
import type { Logger } from '../../platform/logger.ts';
import type { SheetDataStore } from '../sheet-data-store.ts';
import { presentImport } from '../sheet-presenter.ts';
import type { ImportRow, SheetStore } from '../sheet-store.ts';
import { importDir } from './import-files.ts';
import { type ImportSettings, importStream } from './import-options.ts';
import type { ImportConversion } from './import-reader.ts';

/**
 * Stores the images of an imported file's image columns and writes their references (the
 * images feature plugs it in: images/image-parquet-import.ts). `source` is the FROM
 * expression the import read; rows are numbered as the import numbered them.
 */
export interface ImageColumnFiller {
  fill(input: {
    projectId: string;
    datasetId: string;
    source: string;
    columns: readonly { id: string; sourceName: string }[];
    signal?: AbortSignal | undefined;
  }): Promise<ImportConversion[]>;
}

export interface ImportServiceDeps {
  store: SheetStore;
  data: SheetDataStore;
  access: ProjectAccess;
  events: EventBus;
  duckdb: DuckDb;
  jobs: JobQueue | undefined;
  logger: Logger;
  settings: ImportSettings;
  /**
   * The folder every server of a deployment mounts (BRAINCELLS_STORAGE_DIR): uploads are kept
   * under it, so an import job that another server picks up reads the file. Unset: the data dir.
   */
  storageDir?: string | undefined;
  /** Tests: which download targets are allowed (default: public addresses unless the setting allows private). */
  addressAllowed?: (address: string) => boolean;
}

/**
 * What every import use case shares: the dependencies, the imports running in this process
 * (their cancel handles), and how an import is loaded, ended and cleaned up.
 */
export function createImportContext(deps: ImportServiceDeps) {
  const { store, data, events, settings } = deps;
  /** Imports running in this process, by id: aborting one cancels it. */
  const running = new Map<string, AbortController>();
  /** Set by the images feature when it is built (acceptImageColumns). */
  const imageColumns: { filler?: ImageColumnFiller } = {};
  /** This server's working files (converted copies, parts, downloads): its own data dir. */
  const dir = () => importDir(settings.dataDir);
  /**
   * Uploaded files, kept until their import has run: on the shared storage folder when there is
   * one, because the import job may run on any server (docs/decisions/2026-12-06-uploads-on-shared-storage.md).
   */
  const uploadDir = () => importDir(deps.storageDir ?? settings.dataDir);

  const loadImport = async (projectId: string, importId: string) => {
    const row = await store.findImport(importId);
    if (!row || row.project_id !== projectId) throw notFound('import', importId);
    return row;
  };

  const publish = (importId: string, type: string, payload: unknown) =>
    events.publish(importStream(importId), { type, data: payload });

  async function finishFailed(row: ImportRow, status: 'failed' | 'cancelled', error: unknown) {
    const appError =
      error === undefined
        ? undefined
        : isAppError(error)
          ? error
          : new AppError('INTERNAL', 'The import failed', { cause: error });
    await store.updateImport(row.id, {
      status,
      finished_at: new Date(),
      ...(appError ? { error: storableJson(errorRecord(appError)) } : {}),
    });
    await discardImportData(row);
  }

  /** A failed import's traces: its table and dataset, and an upload's file. */
  async function discardImportData(row: ImportRow) {
    if (row.dataset_id) {
      await data.dropTable(row.dataset_id).catch(() => {});
      await store.deleteDataset(row.dataset_id);
    }
    if (row.source === 'upload' && row.file_path)
      await rm(path.join(uploadDir(), path.basename(row.file_path)), { force: true }).catch(
        () => {},
      );
  }

  /** Sends `import-end` with the import as recorded, and returns it. */
  async function announceEnd(importId: string) {
    const final = presentImport((await store.findImport(importId))!);
    publish(importId, 'import-end', final);
    return final;
  }

  return {
    ...deps,
    running,
    imageColumns,
    dir,
    uploadDir,
    loadImport,
    publish,
    finishFailed,
    discardImportData,
    announceEnd,
  };
}

export type ImportContext = ReturnType<typeof createImportContext>;

/** How an import's error is recorded (and shown by presentImport). */
export const errorRecord = (error: AppError) => ({
  code: error.code,
  message: error.message,
  ...(error.details ? { details: error.details } : {}),
});

/** JSON PostgreSQL can store: a NUL (`\u0000`, e.g. from a JSON file's value) becomes U+FFFD. */
export function storableJson(value: unknown): string {
  return JSON.stringify(value).replace(/(?<!\\)((?:\\\\)*)\\u0000/g, '$1\\ufffd');
}

export function firstLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return (message.split('\n')[0] ?? message)
    .replace(/(^|[\s'"(])\/[^\s'"]+/g, '$1<file>')
    .slice(0, 300);
}
