import { rm } from 'node:fs/promises';
import type { Kysely } from 'kysely';
import type { Actor } from '../../access/actor.ts';
import type { AuditRecorder } from '../../access/audit-recorder.ts';
import type { DB } from '../../migrations/db-schema.ts';
import type { DuckDb } from '../../platform/duckdb/duckdb.ts';
import { importDir } from '../import/import-files.ts';
import type { SheetService } from '../sheet-service.ts';
import { CONTENT_TYPES, type ExportFormat, exportDataset } from './sheet-export.ts';

export interface ExportRequest {
  format: ExportFormat;
  /** Each column's cell state (status, model, tokens, cost, provenance) beside its value. */
  withMetadata: boolean;
}

export interface DatasetExport {
  /** The temp file; the caller streams or copies it out, then removes it. */
  path: string;
  /** The dataset's name, for the download's file name. */
  datasetName: string;
  format: ExportFormat;
  contentType: string;
  /** Data rows written. */
  rows: number;
  /** XLSX: cells cut to Excel's 32,767-character limit (0 for other formats). */
  truncatedCells: number;
}

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
 * the server. The API route and `braincells export` both call it.
 */
export function createSheetExportService(deps: SheetExportServiceDeps) {
  return {
    async exportDataset(
      actor: Actor,
      projectId: string,
      datasetId: string,
      request: ExportRequest,
    ): Promise<DatasetExport> {
      const { dataset, columns } = await deps.sheets.requireDataset(actor, projectId, datasetId);
      const written = await exportDataset(deps.duckdb, {
        datasetId: dataset.id,
        columns: columns.map((column) => ({ id: column.id, name: column.name, type: column.type })),
        format: request.format,
        withMetadata: request.withMetadata,
        dir: importDir(deps.dataDir),
      });
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
        contentType: CONTENT_TYPES[request.format],
        rows: written.rows,
        truncatedCells: written.truncatedCells,
      };
    },
  };
}

export type SheetExportService = ReturnType<typeof createSheetExportService>;
