import { rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { AppError } from '../../platform/app-error.ts';
import { presentImport } from '../sheet-presenter.ts';
import type { ImportRow } from '../sheet-store.ts';
import { type ImportContext, storableJson } from './import-context.ts';
import { streamToTempFile } from './import-files.ts';
import {
  hubSourceSchema,
  type ImportProgressEvent,
  importOptionsSchema,
  type ParsedImportOptions,
  planColumns,
  readTypesFor,
} from './import-options.ts';
import type { createImportPreparer, PreparedImport } from './import-prepare.ts';
import { type ImportOutcome, importIntoTable, sourceSql } from './import-reader.ts';
import { openDownload } from './import-url.ts';

/** A running import writes its heartbeat this often (see STALL_SECONDS in import-cleanup.ts). */
const HEARTBEAT_MS = 1_000;

type Report = (progress: Omit<ImportProgressEvent, 'importId' | 'elapsedMs'>) => void;

/**
 * Running one import to the end (the job handler, and the CLI directly): the file fetched or
 * found, prepared, read into the dataset's table, and the outcome recorded. Never throws for
 * a failed import: the outcome is recorded on the import row (and sent as `import-end`).
 */
export function createImportRun(
  context: ImportContext,
  { prepare }: ReturnType<typeof createImportPreparer>,
) {
  const { store, data, duckdb, logger, settings, running, publish } = context;

  async function executeImport(
    importId: string,
    options: { onProgress?: (progress: ImportProgressEvent) => void } = {},
  ) {
    const row = await store.findImport(importId);
    if (row?.status !== 'queued' || !row.dataset_id) return row ? presentImport(row) : undefined;
    const controller = new AbortController();
    running.set(importId, controller);
    const started = Date.now();
    await store.updateImport(importId, {
      status: 'running',
      started_at: new Date(),
      heartbeat_at: new Date(),
    });
    const report: Report = (progress) => {
      const event = { importId, elapsedMs: Date.now() - started, ...progress };
      options.onProgress?.(event);
      publish(importId, 'import-progress', event);
    };
    const poll = heartbeat(importId, controller);
    const temporary: string[] = [];
    try {
      const importOptions = importOptionsSchema.parse(row.options ?? {});
      const { file, size } = await sourceFile(row, controller.signal, report, temporary);
      report({ phase: 'prepare', percentage: 0, bytes: 0, rows: null, rowsPerSecond: null });
      const prepared = await prepare(
        file,
        size,
        displayNameOf(row),
        importOptions,
        controller.signal,
        false,
      );
      temporary.push(...prepared.cleanup);
      const targets = planColumns(prepared.sources, importOptions.columns);
      const outcome = await readIntoTable(row, prepared, targets, importOptions, {
        signal: controller.signal,
        size,
        report,
      });
      await fillImageColumns(row, prepared, targets, outcome, controller.signal);
      // Read as text (DuckDB's inferred type failed on later lines): the column is text.
      for (const target of targets)
        if (outcome.widened.includes(target.sourceName)) target.type = 'text';
      await recordSuccess(row, targets, outcome, size);
      const elapsed = Math.max(1, Date.now() - started);
      report({
        phase: 'finish',
        percentage: 100,
        bytes: size,
        rows: outcome.rows,
        rowsPerSecond: Math.round((outcome.rows * 1000) / elapsed),
      });
      const final = await context.announceEnd(importId);
      // The new table's row-id index is made, and its rows and index checkpointed, now in the
      // background rather than on the next user's write — once the import is over, so the two
      // do not hold their memory at the same time.
      data.indexImportedSoon(row.dataset_id!);
      return final;
    } catch (error) {
      const cancelled = controller.signal.aborted;
      if (!cancelled) logger.info({ err: error, importId }, 'import failed');
      await context.finishFailed(
        row,
        cancelled ? 'cancelled' : 'failed',
        cancelled ? undefined : error,
      );
      return await context.announceEnd(importId);
    } finally {
      clearInterval(poll);
      running.delete(importId);
      for (const file of temporary) await rm(file, { force: true }).catch(() => {});
    }
  }

  /**
   * The heartbeat says this import is alive (recoverStalled fails those whose beat stops),
   * and brings back a cancel another node asked for.
   */
  const heartbeat = (importId: string, controller: AbortController) => {
    const poll = setInterval(() => {
      store
        .beatImport(importId)
        .then((current) => {
          if (current?.cancel_requested)
            controller.abort(new AppError('CONFLICT', 'Import cancelled'));
        })
        .catch((error: unknown) => logger.warn({ err: error, importId }, 'import heartbeat'));
    }, HEARTBEAT_MS);
    poll.unref();
    return poll;
  };

  /** The file to read: an upload or a local path where it is, a URL or Hub file downloaded. */
  const sourceFile = async (
    row: ImportRow,
    signal: AbortSignal,
    report: Report,
    temporary: string[],
  ) => {
    if (row.source === 'upload' || row.source === 'path') {
      const file =
        row.source === 'upload'
          ? path.join(context.uploadDir(), path.basename(row.file_path!))
          : row.file_path!;
      if (row.source === 'upload') temporary.push(file);
      const size = (await stat(file)).size;
      if (row.source === 'path' && size > settings.importMaxBytes)
        throw new AppError(
          'PAYLOAD_TOO_LARGE',
          `The file is larger than the import limit of ${settings.importMaxBytes} bytes`,
        );
      return { file, size };
    }
    const downloaded = await download(row, signal, (bytes) =>
      report({ phase: 'download', percentage: -1, bytes, rows: null, rowsPerSecond: null }),
    );
    temporary.push(downloaded.path);
    return { file: downloaded.path, size: downloaded.size };
  };

  /** The file read into the dataset's table on one connection (DuckDB's threads read it). */
  const readIntoTable = async (
    row: ImportRow,
    prepared: PreparedImport,
    targets: ReturnType<typeof planColumns>,
    importOptions: ParsedImportOptions,
    run: { signal: AbortSignal; size: number; report: Report },
  ) => {
    // Attached before the connection is borrowed (ATTACH needs one of its own).
    await duckdb.datasets.open(row.dataset_id!, { create: true });
    return duckdb.withConnection((connection) =>
      importIntoTable(connection, {
        datasetId: row.dataset_id!,
        spec: {
          ...prepared.spec,
          readTypes: prepared.spec.reader === 'csv' ? readTypesFor(importOptions) : {},
        },
        sources: prepared.sources,
        targets,
        maxBadShare: importOptions.maxBadLineShare ?? settings.importMaxBadLineShare,
        ...(prepared.preRejected ? { preRejected: prepared.preRejected } : {}),
        signal: run.signal,
        onProgress: (progress) => {
          const percentage = Math.max(0, Math.min(100, progress.percentage));
          run.report({
            phase: 'read',
            percentage,
            bytes: Math.round((percentage / 100) * run.size),
            rows: null,
            rowsPerSecond: null,
          });
        },
        finish: (connection, lastRowId) =>
          data.finishImportedTable(connection, row.dataset_id!, lastRowId),
      }),
    );
  };

  /** Image columns (Parquet image structs): each image stored and checked, or an error cell. */
  const fillImageColumns = async (
    row: ImportRow,
    prepared: PreparedImport,
    targets: ReturnType<typeof planColumns>,
    outcome: ImportOutcome,
    signal: AbortSignal,
  ) => {
    const columns = targets.filter((target) => target.type === 'image');
    if (columns.length === 0) return;
    const filler = context.imageColumns.filler;
    if (!filler) throw new AppError('SERVICE_UNAVAILABLE', 'Images cannot be imported here');
    outcome.conversions.push(
      ...(await filler.fill({
        projectId: row.project_id,
        datasetId: row.dataset_id!,
        source: sourceSql(prepared.spec),
        columns,
        signal,
      })),
    );
  };

  /** The columns, the dataset made ready and the import's outcome, in one transaction. */
  const recordSuccess = async (
    row: ImportRow,
    targets: ReturnType<typeof planColumns>,
    outcome: ImportOutcome,
    size: number,
  ) => {
    try {
      await store.transaction(async (trx) => {
        await store.insertColumns(
          targets.map((target, position) => ({
            id: target.id,
            dataset_id: row.dataset_id!,
            name: target.name,
            type: target.type,
            position,
          })),
          trx,
        );
        await store.updateDataset(row.dataset_id!, { status: 'ready' }, trx);
        await store.updateImport(
          row.id,
          {
            status: 'succeeded',
            rows_imported: outcome.rows,
            rows_rejected: outcome.rejected,
            bytes_read: size,
            rejects: storableJson(outcome.rejects),
            conversions: JSON.stringify(
              outcome.conversions.map((conversion) => {
                const target = targets.find((column) => column.id === conversion.columnId)!;
                return { ...conversion, column: target.name, type: target.type };
              }),
            ),
            finished_at: new Date(),
            ...(outcome.widened.length
              ? { error: JSON.stringify({ widenedToText: outcome.widened }) }
              : {}),
          },
          trx,
        );
      });
    } catch (error) {
      await data.dropTable(row.dataset_id!).catch(() => {});
      throw error;
    }
  };

  /** A URL or Hub file streamed to a temp file (size-capped; private addresses refused). */
  async function download(row: ImportRow, signal: AbortSignal, onBytes: (bytes: number) => void) {
    let url: string;
    const trustedHosts = new Set<string>();
    const trustedHeaders: Record<string, string> = {};
    if (row.source === 'hf') {
      const hub = hubSourceSchema.parse((row.options as { hub?: unknown }).hub);
      const base = new URL(settings.hfHubUrl);
      const file = hub.file.split('/').map(encodeURIComponent).join('/');
      url = new URL(
        `${base.pathname.replace(/\/$/, '')}/datasets/${hub.repo}/resolve/${encodeURIComponent(hub.revision)}/${file}`,
        base,
      ).toString();
      // The configured Hub is trusted whatever it resolves to; the token goes only there.
      trustedHosts.add(base.host);
      if (settings.hfToken) trustedHeaders.authorization = `Bearer ${settings.hfToken}`;
    } else {
      url = row.display_name;
    }
    const response = await openDownload(url, {
      maxBytes: settings.importMaxBytes,
      allowPrivate: settings.importAllowPrivateUrls,
      ...(context.addressAllowed ? { addressAllowed: context.addressAllowed } : {}),
      trustedHosts,
      trustedHeaders,
      signal,
    });
    let last = 0;
    return streamToTempFile(response.stream, context.dir(), settings.importMaxBytes, (bytes) => {
      if (bytes - last >= 1024 * 1024) {
        last = bytes;
        onBytes(bytes);
      }
    });
  }

  return { executeImport };
}

/** The name the format is sniffed by: a Hub file's path, a URL's path, else the display name. */
function displayNameOf(row: ImportRow): string {
  if (row.source === 'hf')
    return (row.options as { hub?: { file?: string } }).hub?.file ?? row.display_name;
  if (row.source === 'url') return new URL(row.display_name).pathname;
  return row.display_name;
}
