import { readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import type { Actor } from '../../access/actor.ts';
import type { ProjectAccess } from '../../access/project-access.ts';
import {
  AppError,
  conflict,
  isAppError,
  notFound,
  validationError,
} from '../../platform/app-error.ts';
import type { DuckDb } from '../../platform/duckdb/duckdb.ts';
import type { EventBus } from '../../platform/events.ts';
import { uuidv7 } from '../../platform/ids.ts';
import type { JobQueue } from '../../platform/jobs/job-queue.ts';
import type { Logger } from '../../platform/logger.ts';
import type { SheetDataStore } from '../sheet-data-store.ts';
import { presentImport } from '../sheet-presenter.ts';
import {
  COLUMN_TYPES,
  type ColumnType,
  nameSchema,
  stripControlCharacters,
} from '../sheet-schema.ts';
import type { ImportRow, SheetStore } from '../sheet-store.ts';
import {
  cleanJsonLines,
  expandsTooMuch,
  isJsonLines,
  jsonDocumentsToLines,
  type RejectedLine,
  xlsxToJsonLines,
} from './import-convert.ts';
import { importDir, randomImportPath, readHead, streamToTempFile } from './import-files.ts';
import {
  describeSource,
  importIntoTable,
  isPartFile,
  parquetUncompressedBytes,
  readerFor,
  type SourceColumn,
  type SourceSpec,
  sampleRows,
  sniffCsv,
  type TargetColumn,
} from './import-reader.ts';
import {
  IMPORT_FORMATS,
  type ImportFormat,
  sniffFormat,
  type TextEncoding,
} from './import-sniff.ts';
import { cleanText, needsCleaning, scanText, textEncoding } from './import-text.ts';
import { openDownload } from './import-url.ts';
import {
  dialectWarnings,
  type ImportWarning,
  oneColumnHeader,
  quoteWarnings,
  textWarnings,
} from './import-warnings.ts';

export const IMPORT_JOB = 'sheets.import-file';

export const importOptionsSchema = z.object({
  name: nameSchema.optional(),
  format: z.enum(IMPORT_FORMATS).optional(),
  /** XLSX: sheet name or 1-based index. */
  sheet: z.union([z.string().min(1).max(200), z.number().int().min(1).max(10_000)]).optional(),
  csv: z
    .object({
      delimiter: z.string().min(1).max(4).optional(),
      quote: z.string().max(1).optional(),
      escape: z.string().max(1).optional(),
      header: z.boolean().optional(),
      encoding: z.enum(['utf-8', 'utf-16', 'latin-1']).optional(),
      /** Values read as NULL; default: only an empty unquoted field (`""` stays ''). */
      nullStrings: z.array(z.string().max(100)).max(20).optional(),
      /** Accept unescaped quotes inside quoted fields (`"the "big" one"`). */
      relaxedQuotes: z.boolean().optional(),
      decimalSeparator: z.enum(['.', ',']).optional(),
      thousandsSeparator: z.enum([',', '.', ' ', "'", '_']).optional(),
      /** strftime formats, e.g. %d/%m/%Y. */
      dateFormat: z.string().min(1).max(100).optional(),
      timestampFormat: z.string().min(1).max(100).optional(),
    })
    .optional(),
  /** This import fails when more than this share of its lines is malformed (default: the setting). */
  maxBadLineShare: z.number().min(0).max(1).optional(),
  /** Per source column: a type override, a new name, or leave it out. */
  columns: z
    .array(
      z.object({
        source: z.string().max(10_000),
        name: nameSchema.optional(),
        type: z.enum(COLUMN_TYPES).optional(),
        include: z.boolean().default(true),
      }),
    )
    .max(10_000)
    .optional(),
});
export type ImportOptions = z.input<typeof importOptionsSchema>;

export const hubSourceSchema = z.object({
  repo: z.string().regex(/^[A-Za-z0-9][\w.-]{0,95}\/[\w.-]{1,96}$/, 'must look like owner/name'),
  file: z
    .string()
    .min(1)
    .max(1_000)
    .refine(
      (file) => !file.split('/').some((part) => part === '..' || part === '.' || part === ''),
      'must be a path inside the repository',
    ),
  revision: z
    .string()
    .regex(/^[\w.-]{1,100}$/)
    .default('main'),
});

export interface ImportSettings {
  dataDir: string;
  importMaxBytes: number;
  importMaxBadLineShare: number;
  importAllowPrivateUrls: boolean;
  /** Uploads not started within this many hours are removed (purgeExpiredUploads). */
  importUploadRetentionHours: number;
  hfHubUrl: string;
  hfToken: string | undefined;
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
  /** Tests: which download targets are allowed (default: public addresses unless the setting allows private). */
  addressAllowed?: (address: string) => boolean;
}

export interface ImportProgressEvent {
  importId: string;
  phase: 'download' | 'prepare' | 'read' | 'finish';
  percentage: number;
  bytes: number;
  rows: number | null;
  rowsPerSecond: number | null;
  elapsedMs: number;
}

export const importStream = (importId: string) => `import:${importId}`;

/** The user id to record as creator (the system actor has no user row). */
export const creatorOf = (actor: Actor) => (actor.via === 'system' ? null : actor.userId);

const safeName = (name: string, index: number) => {
  const cleaned = stripControlCharacters(name).trim().slice(0, 200).trim();
  return cleaned === '' ? `Column ${index + 1}` : cleaned;
};

/** Source columns + overrides → target columns with unique, valid names. */
export function planColumns(
  sources: readonly SourceColumn[],
  overrides: z.output<typeof importOptionsSchema>['columns'],
): (TargetColumn & { name: string })[] {
  const byName = new Map((overrides ?? []).map((override) => [override.source, override]));
  for (const override of overrides ?? []) {
    if (!sources.some((source) => source.sourceName === override.source)) {
      throw validationError(`No column ${override.source} in the file`, [
        { path: 'columns.source', message: 'unknown column' },
      ]);
    }
  }
  const used = new Set<string>();
  const planned: (TargetColumn & { name: string })[] = [];
  sources.forEach((source, index) => {
    const override = byName.get(source.sourceName);
    if (override && !override.include) return;
    let name = override?.name ?? safeName(source.sourceName, index);
    for (let n = 2; used.has(name.toLowerCase()); n++)
      name = `${safeName(source.sourceName, index).slice(0, 190)} ${n}`;
    used.add(name.toLowerCase());
    planned.push({
      id: uuidv7(),
      sourceName: source.sourceName,
      name,
      type: override?.type ?? source.inferredType,
    });
  });
  return planned;
}

/**
 * Imports: files are streamed to the data dir under random names (the client's name is
 * display data), sniffed, previewed, then read into a dataset by a job (`sheets.import-file`)
 * that reports progress and can be cancelled. A failed or cancelled import leaves no dataset.
 */
/** How an import's error is recorded (and shown by presentImport). */
const errorRecord = (error: AppError) => ({
  code: error.code,
  message: error.message,
  ...(error.details ? { details: error.details } : {}),
});

/** A running import writes its heartbeat this often… */
const HEARTBEAT_MS = 1_000;
/** …and is failed as stalled when it has not for this long. */
export const STALL_SECONDS = 30;

/** The most source columns an import reads (each makes a value and a state column). */
export const MAX_IMPORT_COLUMNS = 2_000;

/** At most this many parts of one CSV are read at once (one DuckDB thread and connection each). */
const MAX_IMPORT_PARTS = 4;

export function createSheetImportService(deps: ImportServiceDeps) {
  const { store, data, access, events, duckdb, logger, settings } = deps;
  const running = new Map<string, AbortController>();
  const dir = () => importDir(settings.dataDir);

  const loadImport = async (projectId: string, importId: string) => {
    const row = await store.findImport(importId);
    if (!row || row.project_id !== projectId) throw notFound('import', importId);
    return row;
  };

  const publish = (importId: string, type: string, payload: unknown) =>
    events.publish(importStream(importId), { type, data: payload });

  /**
   * Sniffs a file on disk and builds the preview shown before an import starts. The import
   * itself (`withPreview` false) needs only the columns: no dialect, no sample rows.
   */
  const prepare = async (
    file: string,
    size: number,
    displayName: string,
    options: z.output<typeof importOptionsSchema>,
    signal?: AbortSignal,
    withPreview = true,
  ) => {
    const head = await readHead(file);
    const { format, encoding: headEncoding } = sniffFormat(head, size, displayName, options.format);
    const bom = head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf;
    const cleanup: string[] = [];
    try {
      return await prepareSpec(
        file,
        format,
        bom ? 'utf-8-bom' : headEncoding,
        options,
        cleanup,
        signal,
        withPreview,
      );
    } catch (error) {
      // Every temp file this preparation made goes, whatever failed.
      for (const extra of cleanup) await rm(extra, { force: true }).catch(() => {});
      throw error;
    }
  };

  /** The upload preview converts only this many rows of XLSX and JSON files. */
  const PREVIEW_ROWS = 1_000;

  const prepareSpec = async (
    file: string,
    format: ImportFormat,
    headEncoding: TextEncoding | 'utf-8-bom',
    options: z.output<typeof importOptionsSchema>,
    cleanup: string[],
    signal: AbortSignal | undefined,
    withPreview: boolean,
  ) => {
    let encoding: TextEncoding = headEncoding === 'utf-8-bom' ? 'utf-8' : headEncoding;
    const limits = {
      maxBytes: settings.importMaxBytes,
      maxRows: withPreview ? PREVIEW_ROWS : undefined,
      signal,
    };
    const warnings: ImportWarning[] = [];
    let spec: SourceSpec;
    let preRejected: { count: number; rejects: RejectedLine[] } | undefined;
    let sheets: string[] | undefined;
    let layout: 'lines' | 'documents' | undefined;
    if (format === 'xlsx') {
      const target = randomImportPath(dir(), '.jsonl');
      cleanup.push(target);
      const converted = await xlsxToJsonLines(
        file,
        target,
        options.sheet === undefined ? {} : { sheet: options.sheet },
        limits,
      );
      sheets = converted.sheets;
      spec = { reader: 'jsonl', path: converted.path };
    } else if (format === 'jsonl' || format === 'json') {
      const target = randomImportPath(dir(), '.jsonl');
      cleanup.push(target);
      layout = (await isJsonLines(file)) ? 'lines' : 'documents';
      const cleaned =
        layout === 'lines'
          ? await cleanJsonLines(file, target, limits)
          : await jsonDocumentsToLines(file, target, limits);
      preRejected = { count: cleaned.rejected, rejects: cleaned.rejects };
      spec = { reader: 'jsonl', path: cleaned.path };
      if (cleaned.lines === 0) {
        const first = cleaned.rejects[0];
        throw new AppError(
          'VALIDATION_ERROR',
          first
            ? `No JSON object in the file; line ${first.line}: ${first.reason}`
            : 'No JSON object in the file',
          {
            details: {
              issues: [{ path: 'file', message: 'no JSON objects' }],
              rejects: cleaned.rejects.slice(0, 20),
            },
          },
        );
      }
    } else if (format === 'csv' || format === 'tsv') {
      let path = file;
      if (headEncoding !== 'utf-16') {
        const scan = await scanText(file, signal);
        if (!options.csv?.encoding && headEncoding !== 'utf-8-bom') encoding = textEncoding(scan);
        warnings.push(
          ...textWarnings(scan, options.csv?.encoding ?? encoding, !options.csv?.encoding),
        );
        if (needsCleaning(scan)) {
          path = randomImportPath(dir(), '.csv');
          cleanup.push(path);
          await cleanText(file, path, scan, settings.importMaxBytes, signal);
        }
      }
      const csv = options.csv ?? {};
      spec = {
        reader: 'csv',
        path,
        csv: {
          encoding: csv.encoding ?? encoding,
          ...(format === 'tsv' ? { delimiter: '\t' } : {}),
          ...stripUndefined(csv),
        },
      };
    } else {
      spec = { reader: readerFor(format), path: file };
      if (format === 'parquet') await checkParquetSize(file);
    }
    const preview = await duckdb.withConnection(async (connection) => {
      try {
        let sources = await describeSource(connection, spec);
        refuseExpansion(sources.length);
        // Nested JSON is read as JSON text: DuckDB's inferred structs would rewrite it
        // (timestamps, added nulls, 2 → 2.0).
        if (spec.reader === 'jsonl' && sources.some((column) => column.inferredType === 'json')) {
          spec = {
            ...spec,
            jsonColumns: Object.fromEntries(
              sources.map((column) => [
                column.sourceName,
                column.inferredType === 'json' ? 'JSON' : column.sqlType,
              ]),
            ),
          };
          sources = await describeSource(connection, spec);
        }
        if (spec.reader === 'csv' && options.csv?.header === undefined) {
          const header = await oneColumnHeader(connection, spec, sources);
          if (header === false) {
            spec = { ...spec, csv: { ...spec.csv, header: false } };
            sources = await describeSource(connection, spec);
            warnings.push({
              code: 'first-row-is-data',
              message:
                'The first line looks like data, not a column name: it is read as a row (send csv.header = true to use it as the name)',
            });
          }
        }
        const dialect =
          withPreview && spec.reader === 'csv'
            ? await sniffCsv(connection, spec).catch(() => undefined)
            : undefined;
        if (dialect && spec.reader === 'csv') {
          warnings.push(...(await dialectWarnings(spec, sources, options.csv)));
          warnings.push(...(await quoteWarnings(spec, dialect)));
        }
        const sample = withPreview ? await sampleRows(connection, spec, 20) : [];
        return { sources, dialect, sample };
      } catch (error) {
        if (isAppError(error)) throw error;
        throw new AppError(
          'VALIDATION_ERROR',
          `The file could not be read as ${format}: ${firstLine(error)}`,
          { cause: error },
        );
      }
    });
    return {
      format,
      encoding: spec.csv?.encoding ?? encoding,
      spec,
      preRejected,
      sheets,
      layout,
      warnings,
      cleanup,
      ...preview,
    };
  };

  /**
   * A table may not be wider than MAX_IMPORT_COLUMNS source columns (each makes a value and
   * a state column). JSON objects whose keys differ from object to object do not widen it:
   * DuckDB reads keys found in under 10% of the objects as one JSON column.
   */
  const refuseExpansion = (columns: number) => {
    if (columns > MAX_IMPORT_COLUMNS)
      throw new AppError(
        'PAYLOAD_TOO_LARGE',
        `The file has ${columns} columns; at most ${MAX_IMPORT_COLUMNS} can be imported`,
        { details: { columns, maxColumns: MAX_IMPORT_COLUMNS } },
      );
  };

  /**
   * Parquet is compressed: refuse one whose pages expand past the import limit (its own
   * metadata, read before any row) rather than write a table larger than the cap.
   */
  const checkParquetSize = async (file: string) => {
    const expanded = await duckdb
      .withConnection((connection) => parquetUncompressedBytes(connection, file))
      .catch((error: unknown) => {
        throw new AppError(
          'UNSUPPORTED_MEDIA_TYPE',
          `The file could not be read as Parquet: ${firstLine(error)}`,
          { cause: error },
        );
      });
    if (expanded > settings.importMaxBytes) throw expandsTooMuch(settings.importMaxBytes);
  };

  const presentPreview = (prepared: Awaited<ReturnType<typeof prepare>>) => ({
    format: prepared.format,
    encoding: prepared.encoding,
    dialect: prepared.dialect ?? null,
    sheets: prepared.sheets ?? null,
    columns: prepared.sources.map((column) => ({
      source: column.sourceName,
      sqlType: column.sqlType,
      inferredType: column.inferredType,
    })),
    sample: prepared.sample,
    rejectedBeforeRead: prepared.preRejected?.count ?? 0,
    rejectsBeforeRead: prepared.preRejected?.rejects.slice(0, 20) ?? [],
    /** JSON: one object per line, or documents (pretty-printed, concatenated, an array). */
    layout: prepared.layout ?? null,
    /** What the reader will do differently from a plain read, and what looks wrong. */
    warnings: prepared.warnings,
  });

  const service = {
    /**
     * An upload: streams the body to a temp file (size-capped), sniffs and previews it.
     * The import waits in `uploaded` until `startImport` (or starts now with `start: true`).
     */
    async createUpload(
      actor: Actor,
      projectId: string,
      input: {
        body: AsyncIterable<Uint8Array>;
        filename: string;
        options?: ImportOptions;
        start?: boolean;
      },
    ) {
      await access.requireRole(actor, projectId, 'editor');
      const options = importOptionsSchema.parse(input.options ?? {});
      // Display data only: control characters (NUL cannot be stored) become '_'.
      const displayName = stripControlCharacters(input.filename, '_').slice(0, 1_000) || 'upload';
      const { path: file, size } = await streamToTempFile(
        input.body,
        dir(),
        settings.importMaxBytes,
      );
      let prepared: Awaited<ReturnType<typeof prepare>>;
      try {
        prepared = await prepare(file, size, displayName, options);
      } catch (error) {
        await rm(file, { force: true });
        throw error;
      }
      for (const extra of prepared.cleanup) await rm(extra, { force: true });
      const row = await store.insertImport({
        id: uuidv7(),
        project_id: projectId,
        source: 'upload',
        display_name: displayName,
        format: prepared.format,
        status: 'uploaded',
        options: JSON.stringify(options),
        preview: storableJson(presentPreview(prepared)),
        file_path: path.basename(file),
        size_bytes: size,
        created_by: creatorOf(actor),
      });
      if (input.start) return service.startImport(actor, projectId, row.id, options);
      return presentImport(row);
    },

    /**
     * Previews an upload again with other options (dialect, header, nulls, formats…) and
     * keeps them for its start: the preview shows what the import will read, and warns
     * (`warnings`) when the options look wrong, before anything is written.
     */
    async previewImport(
      actor: Actor,
      projectId: string,
      importId: string,
      overrides: ImportOptions,
    ) {
      await access.requireRole(actor, projectId, 'editor');
      const row = await loadImport(projectId, importId);
      if (row.status !== 'uploaded' || row.source !== 'upload' || !row.file_path)
        throw conflict(`Import is ${row.status}; only an upload not yet started can be previewed`, {
          status: row.status,
        });
      const parsed = importOptionsSchema.parse(overrides ?? {});
      const options = { ...importOptionsSchema.parse(row.options ?? {}), ...parsed };
      const file = path.join(dir(), path.basename(row.file_path));
      const size = (await stat(file).catch(() => undefined))?.size;
      if (size === undefined) throw notFound('import', importId);
      const prepared = await prepare(file, size, row.display_name, options);
      for (const extra of prepared.cleanup) await rm(extra, { force: true });
      const updated = await store.updateImport(importId, {
        options: JSON.stringify(options),
        format: prepared.format,
        preview: storableJson(presentPreview(prepared)),
      });
      return presentImport(updated!);
    },

    async createFromUrl(
      actor: Actor,
      projectId: string,
      input: { url: string; options?: ImportOptions },
    ) {
      await access.requireRole(actor, projectId, 'editor');
      const options = importOptionsSchema.parse(input.options ?? {});
      const url = z
        .url({ protocol: /^https?$/ })
        .max(4_000)
        .parse(input.url);
      const row = await store.insertImport({
        id: uuidv7(),
        project_id: projectId,
        source: 'url',
        display_name: url,
        status: 'uploaded',
        options: JSON.stringify(options),
        created_by: creatorOf(actor),
      });
      return service.startImport(actor, projectId, row.id, options);
    },

    async createFromHub(
      actor: Actor,
      projectId: string,
      input: { repo: string; file: string; revision?: string; options?: ImportOptions },
    ) {
      await access.requireRole(actor, projectId, 'editor');
      const options = importOptionsSchema.parse(input.options ?? {});
      const hub = hubSourceSchema.parse(input);
      const row = await store.insertImport({
        id: uuidv7(),
        project_id: projectId,
        source: 'hf',
        display_name: `${hub.repo}/${hub.file}@${hub.revision}`,
        status: 'uploaded',
        options: JSON.stringify({ ...options, hub }),
        created_by: creatorOf(actor),
      });
      return service.startImport(actor, projectId, row.id, options);
    },

    /** CLI: a file on this machine, read in place. */
    async createFromPath(
      actor: Actor,
      projectId: string,
      input: { path: string; options?: ImportOptions },
    ) {
      await access.requireRole(actor, projectId, 'editor');
      const options = importOptionsSchema.parse(input.options ?? {});
      const info = await stat(input.path).catch(() => undefined);
      if (!info?.isFile()) throw notFound('file', input.path);
      const row = await store.insertImport({
        id: uuidv7(),
        project_id: projectId,
        source: 'path',
        display_name: path.basename(input.path).slice(0, 1_000),
        status: 'uploaded',
        options: JSON.stringify(options),
        file_path: path.resolve(input.path),
        created_by: creatorOf(actor),
      });
      return row;
    },

    /** Creates the (empty, `importing`) dataset and queues the job. Returns at once. */
    async startImport(
      actor: Actor,
      projectId: string,
      importId: string,
      overrides?: ImportOptions,
      queue = true,
    ) {
      await access.requireRole(actor, projectId, 'editor');
      const row = await loadImport(projectId, importId);
      if (row.status !== 'uploaded')
        throw conflict(`Import is already ${row.status}`, { status: row.status });
      const stored = importOptionsSchema.parse(row.options ?? {});
      const options = {
        ...stored,
        ...importOptionsSchema.parse(overrides ?? {}),
        ...((row.options as { hub?: unknown }).hub
          ? { hub: (row.options as { hub?: unknown }).hub }
          : {}),
      };
      const datasetId = uuidv7();
      const name =
        options.name ??
        nameSchema.parse(
          row.display_name
            .split(/[\\/]/)
            .pop()
            ?.replace(/\.[^.]*$/, '') || 'Imported dataset',
        );
      await store.insertDataset({
        id: datasetId,
        project_id: projectId,
        name,
        status: 'importing',
        created_by: creatorOf(actor),
      });
      const updated = await store.updateImport(importId, {
        status: 'queued',
        dataset_id: datasetId,
        options: JSON.stringify(options),
      });
      if (queue) {
        if (!deps.jobs)
          throw new AppError('SERVICE_UNAVAILABLE', 'Jobs are not running in this process');
        const jobId = await deps.jobs.send(IMPORT_JOB, { importId }, { retryLimit: 0 });
        await store.updateImport(importId, { job_id: jobId });
      }
      return presentImport(updated!);
    },

    async getImport(actor: Actor, projectId: string, importId: string) {
      await access.requireRole(actor, projectId, 'viewer');
      return presentImport(await loadImport(projectId, importId));
    },

    async cancelImport(actor: Actor, projectId: string, importId: string) {
      await access.requireRole(actor, projectId, 'editor');
      const row = await loadImport(projectId, importId);
      if (row.status === 'uploaded' || row.status === 'queued') {
        await finishFailed(row, 'cancelled', undefined);
      } else if (row.status === 'running') {
        await store.updateImport(importId, { cancel_requested: true });
        running.get(importId)?.abort(new AppError('CONFLICT', 'Import cancelled'));
      }
      return presentImport((await store.findImport(importId))!);
    },

    /**
     * Runs one import to the end: the job handler, and the CLI directly. Never throws for a
     * failed import: the outcome is recorded on the import row (and sent as `import-end`).
     */
    /**
     * Fails the imports whose server stopped while they ran (no heartbeat for STALL_SECONDS):
     * their partial table and dataset are dropped and `import-end` is sent, so nothing stays
     * `running` or `importing` after a crash. Leftover parts of a CSV read in parts are
     * removed when no import runs in this process. Returns how many imports it failed.
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
      // Stray files only while no import runs here (its temp copies are not in the table).
      const names = running.size === 0 ? await readdir(dir()).catch(() => [] as string[]) : [];
      let files = 0;
      for (const name of names) {
        if (pending.has(name)) continue;
        const file = path.join(dir(), name);
        const info = await stat(file).catch(() => undefined);
        if (!info?.isFile() || info.mtimeMs >= cutoff.getTime()) continue;
        await rm(file, { force: true }).catch(() => {});
        files++;
      }
      if (expired.length > 0 || files > 0)
        logger.info({ uploads: expired.length, files }, 'purged expired uploads');
      return expired.length;
    },

    async executeImport(
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
      const report = (progress: Omit<ImportProgressEvent, 'importId' | 'elapsedMs'>) => {
        const event = { importId, elapsedMs: Date.now() - started, ...progress };
        options.onProgress?.(event);
        publish(importId, 'import-progress', event);
      };
      // The heartbeat says this import is alive (recoverStalled fails those whose beat stops),
      // and brings back a cancel another node asked for.
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
      const temporary: string[] = [];
      try {
        const importOptions = importOptionsSchema.parse(row.options ?? {});
        let file: string;
        let size: number;
        if (row.source === 'upload' || row.source === 'path') {
          file =
            row.source === 'upload'
              ? path.join(dir(), path.basename(row.file_path!))
              : row.file_path!;
          if (row.source === 'upload') temporary.push(file);
          size = (await stat(file)).size;
          if (row.source === 'path' && size > settings.importMaxBytes)
            throw new AppError(
              'PAYLOAD_TOO_LARGE',
              `The file is larger than the import limit of ${settings.importMaxBytes} bytes`,
            );
        } else {
          const downloaded = await download(row, controller.signal, (bytes) =>
            report({ phase: 'download', percentage: -1, bytes, rows: null, rowsPerSecond: null }),
          );
          file = downloaded.path;
          size = downloaded.size;
          temporary.push(file);
        }
        report({ phase: 'prepare', percentage: 0, bytes: 0, rows: null, rowsPerSecond: null });
        const displayName =
          row.source === 'hf'
            ? ((row.options as { hub?: { file?: string } }).hub?.file ?? row.display_name)
            : row.source === 'url'
              ? new URL(row.display_name).pathname
              : row.display_name;
        const prepared = await prepare(
          file,
          size,
          displayName,
          importOptions,
          controller.signal,
          false,
        );
        temporary.push(...prepared.cleanup);
        const targets = planColumns(prepared.sources, importOptions.columns);
        const readTypes: Record<string, string> = {};
        if (prepared.spec.reader === 'csv') {
          for (const override of importOptions.columns ?? []) {
            if (override.type && override.include)
              readTypes[override.source] = typeSql(override.type);
          }
        }
        // A large CSV is read in parts, one per free connection (see importIntoTable).
        const outcome = await duckdb.withConnections(
          Math.min(MAX_IMPORT_PARTS, duckdb.threads),
          (connections) =>
            importIntoTable(connections, {
              datasetId: row.dataset_id!,
              spec: { ...prepared.spec, readTypes },
              sources: prepared.sources,
              targets,
              maxBadShare: importOptions.maxBadLineShare ?? settings.importMaxBadLineShare,
              ...(prepared.preRejected ? { preRejected: prepared.preRejected } : {}),
              signal: controller.signal,
              onProgress: (progress) => {
                const percentage = Math.max(0, Math.min(100, progress.percentage));
                report({
                  phase: 'read',
                  percentage,
                  bytes: Math.round((percentage / 100) * size),
                  rows: null,
                  rowsPerSecond: null,
                });
              },
              finish: (connection, lastRowId) =>
                data.finishImportedTable(connection, row.dataset_id!, lastRowId),
              partsDir: dir(),
            }),
        );
        // Read as text (DuckDB's inferred type failed on later lines): the column is text.
        for (const target of targets)
          if (outcome.widened.includes(target.sourceName)) target.type = 'text';
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
              importId,
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
        const elapsed = Math.max(1, Date.now() - started);
        report({
          phase: 'finish',
          percentage: 100,
          bytes: size,
          rows: outcome.rows,
          rowsPerSecond: Math.round((outcome.rows * 1000) / elapsed),
        });
        const final = await announceEnd(importId);
        // The new table's rows sit in the WAL (or, for later parts, in memory) until a
        // checkpoint: take it now, in the background, rather than on the next user's write —
        // once the import is over, so the two do not hold their memory at the same time.
        duckdb.checkpointSoon();
        return final;
      } catch (error) {
        const cancelled = controller.signal.aborted;
        if (!cancelled) logger.info({ err: error, importId }, 'import failed');
        await finishFailed(row, cancelled ? 'cancelled' : 'failed', cancelled ? undefined : error);
        return await announceEnd(importId);
      } finally {
        clearInterval(poll);
        running.delete(importId);
        for (const file of temporary) await rm(file, { force: true }).catch(() => {});
      }
    },
  };

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
      await rm(path.join(dir(), path.basename(row.file_path)), { force: true }).catch(() => {});
  }

  /** Sends `import-end` with the import as recorded, and returns it. */
  async function announceEnd(importId: string) {
    const final = presentImport((await store.findImport(importId))!);
    publish(importId, 'import-end', final);
    return final;
  }

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
      ...(deps.addressAllowed ? { addressAllowed: deps.addressAllowed } : {}),
      trustedHosts,
      trustedHeaders,
      signal,
    });
    let last = 0;
    return streamToTempFile(response.stream, dir(), settings.importMaxBytes, (bytes) => {
      if (bytes - last >= 1024 * 1024) {
        last = bytes;
        onBytes(bytes);
      }
    });
  }

  return service;
}

/** JSON PostgreSQL can store: a NUL (`\u0000`, e.g. from a JSON file's value) becomes U+FFFD. */
function storableJson(value: unknown): string {
  return JSON.stringify(value).replace(/(?<!\\)((?:\\\\)*)\\u0000/g, '$1\\ufffd');
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(
    Object.entries(value).filter(([, entry]) => entry !== undefined),
  ) as Partial<T>;
}

function typeSql(type: ColumnType): string {
  return {
    text: 'VARCHAR',
    integer: 'BIGINT',
    number: 'DOUBLE',
    boolean: 'BOOLEAN',
    date: 'DATE',
    timestamp: 'TIMESTAMP',
    json: 'VARCHAR',
    image: 'VARCHAR',
  }[type];
}

function firstLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return (message.split('\n')[0] ?? message)
    .replace(/(^|[\s'"(])\/[^\s'"]+/g, '$1<file>')
    .slice(0, 300);
}

export type SheetImportService = ReturnType<typeof createSheetImportService>;
export type { ImportFormat };
