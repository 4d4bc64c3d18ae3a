import { createImportCancel } from './import-cancel.ts';
import { createImportCleanup } from './import-cleanup.ts';
import {
  createImportContext,
  type ImageColumnFiller,
  type ImportServiceDeps,
} from './import-context.ts';
import { createImportPreparer } from './import-prepare.ts';
import { createImportRun } from './import-run.ts';
import { createImportSources } from './import-sources.ts';
import { createImportStart } from './import-start.ts';

export { STALL_SECONDS } from './import-cleanup.ts';
export type { ImageColumnFiller, ImportServiceDeps } from './import-context.ts';
export {
  hubSourceSchema,
  IMPORT_JOB,
  type ImportOptions,
  type ImportProgressEvent,
  type ImportSettings,
  importOptionsSchema,
  importStream,
  planColumns,
} from './import-options.ts';
export { MAX_IMPORT_COLUMNS } from './import-prepare.ts';
export type { ImportFormat } from './import-sniff.ts';

/**
 * Imports: files are streamed to the data dir under random names (the client's name is
 * display data), sniffed, previewed, then read into a dataset by a job (`sheets.import-file`)
 * that reports progress and can be cancelled. A failed or cancelled import leaves no dataset.
 * Each use case lives in its own file; this puts them together.
 */
export function createSheetImportService(deps: ImportServiceDeps) {
  const context = createImportContext(deps);
  const preparer = createImportPreparer(context);
  const start = createImportStart(context);
  return {
    ...createImportSources(context, preparer, start),
    ...start,
    ...createImportCancel(context),
    ...createImportCleanup(context),
    ...createImportRun(context, preparer),
    /** The images feature stores imported image columns (Parquet image structs) with this. */
    acceptImageColumns(filler: ImageColumnFiller) {
      context.imageColumns.filler = filler;
    },
  };
}

export type SheetImportService = ReturnType<typeof createSheetImportService>;
