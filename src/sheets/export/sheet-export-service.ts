import { rm } from 'node:fs/promises';
import type { Kysely } from 'kysely';
import type { Actor } from '../../access/actor.ts';
import type { AuditRecorder } from '../../access/audit-recorder.ts';
import type { DB } from '../../migrations/db-schema.ts';
import type { DuckDb } from '../../platform/duckdb/duckdb.ts';
import { importDir } from '../import/import-files.ts';
import type { SheetService } from '../sheet-service.ts';
import {
  CONTENT_TYPES,
  type ExportColumn,
  type ExportFormat,
  exportDataset,
} from './sheet-export.ts';

export interface ExportRequest<F extends string = ExportFormat> {
  format: F;
  /** Each column's cell state (status, model, tokens, cost, provenance) beside its value. */
  withMetadata: boolean;
}

export interface DatasetExport<F extends string = ExportFormat> {
  /** The temp file; the caller streams or copies it out, then removes it. */
  path: string;
  /** The dataset's name, for the download's file name. */
  datasetName: string;
  format: F;
  contentType: string;
  /** The download's file extension (a ZIP of data and images is `zip`). */
  extension: string;
  /** Data rows written. */
  rows: number;
  /** XLSX: cells cut to Excel's 32,767-character limit (0 for other formats). */
  truncatedCells: number;
}

/** What a writer made: the file and what the audit entry says of it beyond format and rows. */
export interface WrittenExport {
  path: string;
  rows: number;
  contentType: string;
  extension: string;
  truncatedCells: number;
  /** Added to the `dataset.export` audit summary (images: the files written). */
  summary?: Record<string, unknown>;
}

/**
 * Writes one dataset's file in the requested format: the data formats (sheet-export.ts) or a
 * part that adds something, such as images (images/image-export.ts: a ZIP with the files,
 * Parquet image structs). A failure leaves no file behind.
 */
export type ExportWriter<F extends string> = (input: {
  projectId: string;
  datasetId: string;
  columns: readonly ExportColumn[];
  request: ExportRequest<F>;
}) => Promise<WrittenExport>;

export interface SheetExportServiceDeps {
  sheets: Pick<SheetService, 'requireDataset'>;
  duckdb: DuckDb;
  db: Kysely<DB>;
  audit: AuditRecorder;
  /** Temp files are written under the data dir's import folder (same disk, same cleanup). */
  dataDir: string;
}

/**
 * Export as a use case: viewers and up may download a dataset; every export is audited
 * (`dataset.export`: who, which dataset, format, row count), since an export is how data leaves
 * the server. One path for every export: the API routes and `braincells export` call
 * `exportDataset`; exports with images (images/image-export.ts) call `exportWith` with their
 * writer, so access, the audit entry and the clean-up are the same.
 */
export function createSheetExportService(deps: SheetExportServiceDeps) {
  const writeData: ExportWriter<ExportFormat> = async ({ datasetId, columns, request }) => {
    const written = await exportDataset(deps.duckdb, {
      datasetId,
      columns: [...columns],
      format: request.format,
      withMetadata: request.withMetadata,
      dir: importDir(deps.dataDir),
    });
    return {
      ...written,
      contentType: CONTENT_TYPES[request.format],
      extension: request.format,
    };
  };

  async function exportWith<F extends string>(
    actor: Actor,
    projectId: string,
    datasetId: string,
    request: ExportRequest<F>,
    write: ExportWriter<F>,
  ): Promise<DatasetExport<F>> {
    const { dataset, columns } = await deps.sheets.requireDataset(actor, projectId, datasetId);
    // Held while the file is written: the bound on attached files never detaches it mid-read.
    const release = deps.duckdb.datasets.hold(dataset.id);
    let written: Awaited<ReturnType<ExportWriter<F>>>;
    try {
      await deps.duckdb.datasets.open(dataset.id);
      written = await write({
        projectId,
        datasetId: dataset.id,
        columns: columns.map((column) => ({ id: column.id, name: column.name, type: column.type })),
        request,
      });
    } finally {
      release();
    }
    // Recorded once the file is complete: a failed export left nothing to audit. No entry,
    // no file: an export the log cannot show is not handed out.
    await deps.audit
      .record(deps.db, {
        actor,
        action: 'dataset.export',
        entityType: 'dataset',
        entityId: dataset.id,
        projectId,
        summary: {
          format: request.format,
          withMetadata: request.withMetadata,
          rows: written.rows,
          columns: columns.length,
          ...written.summary,
        },
      })
      .catch(async (error: unknown) => {
        await rm(written.path, { force: true });
        throw error;
      });
    return {
      path: written.path,
      datasetName: dataset.name,
      format: request.format,
      contentType: written.contentType,
      extension: written.extension,
      rows: written.rows,
      truncatedCells: written.truncatedCells,
    };
  }

  return {
    exportDataset: (actor: Actor, projectId: string, datasetId: string, request: ExportRequest) =>
      exportWith(actor, projectId, datasetId, request, writeData),
    exportWith,
  };
}

export type SheetExportService = ReturnType<typeof createSheetExportService>;
