import { createHash, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream, mkdirSync } from 'node:fs';
import { open, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { Actor } from '../access/actor.ts';
import type { AuditRecorder } from '../access/audit-recorder.ts';
import type { ProjectAccess } from '../access/project-access.ts';
import { systemActor } from '../auth/system-actor.ts';
import { AppError, conflict, notFound, validationError } from '../platform/app-error.ts';
import { discardFile, finishFile } from '../platform/file-writes.ts';
import { uuidv7 } from '../platform/ids.ts';
import type { JobQueue } from '../platform/jobs/job-queue.ts';
import type { Logger } from '../platform/logger.ts';
import type { SheetService } from '../sheets/sheet-service.ts';
import { DEFAULT_EXTRACT_LIMITS, type Extracted, extractDocument } from './document-extract.ts';
import { SAMPLE_DOCUMENTS, sampleBytes } from './document-samples.ts';
import { type DocumentKind, sniffDocument } from './document-sniff.ts';
import type { DocumentRow, DocumentStore } from './document-store.ts';

export const EXTRACT_JOB = 'documents.extract';
/** How often an extraction says it is alive, and how long a silent one waits to be queued again. */
export const EXTRACT_HEARTBEAT_SECONDS = 5;
export const EXTRACT_STALL_SECONDS = 30;
export const UPLOAD_MAX_FILES = 1_000;

/** The columns of a documents collection (a dataset), by key: name and type. */
export const COLLECTION_COLUMNS = [
  { key: 'name', name: 'Name', type: 'text' },
  { key: 'kind', name: 'Type', type: 'text' },
  { key: 'pages', name: 'Pages', type: 'integer' },
  { key: 'size', name: 'Size', type: 'integer' },
  { key: 'sha256', name: 'SHA-256', type: 'text' },
  { key: 'status', name: 'Status', type: 'text' },
  { key: 'error', name: 'Error', type: 'text' },
  { key: 'text', name: 'Text', type: 'text' },
  { key: 'pageText', name: 'Page text', type: 'json' },
  { key: 'documentId', name: 'Document id', type: 'text' },
] as const;
type ColumnKey = (typeof COLLECTION_COLUMNS)[number]['key'];

export interface DocumentSettings {
  dataDir: string;
  maxFileBytes: number;
  maxBatchBytes: number;
  extractTimeoutMs: number;
}

/**
 * A feature that uses documents (workflows) and must not lose one silently: an unforced delete
 * of a document it uses answers 409 listing the users; a forced one goes ahead, audited with them.
 */
export interface DocumentDeleteGuard {
  usersOf(
    projectId: string,
    document: { id: string; datasetId: string },
  ): Promise<{ kind: string; id: string; name: string }[]>;
}

export interface UploadedPart {
  filename: string;
  file: Readable;
}

/** A document as the API shows it. */
export function presentDocument(row: DocumentRow) {
  return {
    id: row.id,
    datasetId: row.dataset_id,
    rowId: row.row_id === null ? null : String(row.row_id),
    name: row.name,
    kind: row.kind,
    mediaType: row.media_type,
    size: Number(row.size),
    sha256: row.sha256,
    status: row.status,
    message: row.message,
    pages: row.pages,
    createdAt: new Date(row.created_at as unknown as string).toISOString(),
  };
}
export type DocumentView = ReturnType<typeof presentDocument>;

/**
 * Documents (docs/documents.md): uploads of many files become rows of a documents collection
 * (a dataset with COLLECTION_COLUMNS) once their text is extracted, in a job, one document at
 * a time in a bounded worker (document-extract.ts). The upload is all or nothing: a file over
 * the limit, or the batch over its limit, keeps none of it. Originals are stored once per
 * content under `DATA_DIR/documents/blobs/<sha256>`, never under a name the client chose; the
 * same content twice in one collection is reported as a duplicate, not imported again.
 */
export function createDocumentService(deps: {
  store: DocumentStore;
  sheets: Pick<
    SheetService,
    'createDataset' | 'getDataset' | 'appendRows' | 'readCells' | 'readWindow' | 'deleteRows'
  >;
  access: ProjectAccess;
  audit: AuditRecorder;
  jobs: Pick<JobQueue, 'send' | 'started'>;
  logger: Logger;
  settings: DocumentSettings;
}) {
  const { store, sheets, access, audit, jobs, logger, settings } = deps;
  const deleteGuards: DocumentDeleteGuard[] = [];
  const root = path.join(settings.dataDir, 'documents');
  const blobDir = path.join(root, 'blobs');
  const incomingDir = path.join(root, 'incoming');
  const blobPath = (sha256: string) => {
    if (!/^[0-9a-f]{64}$/.test(sha256)) throw new Error('not a sha256');
    return path.join(blobDir, sha256);
  };
  const ensureDirs = () => {
    mkdirSync(blobDir, { recursive: true, mode: 0o700 });
    mkdirSync(incomingDir, { recursive: true, mode: 0o700 });
  };

  /** The collection's column ids by key; 400 when the dataset is not a documents collection. */
  async function collectionColumns(actor: Actor, projectId: string, datasetId: string) {
    return columnIdsOf(await sheets.getDataset(actor, projectId, datasetId));
  }

  /** Streams one part to `incoming` under a random name, hashing and counting it. */
  async function receive(part: UploadedPart, batchLeft: number) {
    const target = path.join(incomingDir, `${randomUUID()}.part`);
    const out = createWriteStream(target, { flags: 'wx', mode: 0o600 });
    const hash = createHash('sha256');
    let size = 0;
    try {
      for await (const chunk of part.file as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > settings.maxFileBytes)
          throw new AppError(
            'PAYLOAD_TOO_LARGE',
            `${part.filename} is larger than the document limit of ${settings.maxFileBytes} bytes`,
            { details: { file: part.filename, maxBytes: settings.maxFileBytes } },
          );
        if (size > batchLeft)
          throw new AppError(
            'PAYLOAD_TOO_LARGE',
            `The upload is larger than the batch limit of ${settings.maxBatchBytes} bytes`,
            { details: { maxBytes: settings.maxBatchBytes } },
          );
        hash.update(chunk);
        if (!out.write(chunk)) await once(out, 'drain');
      }
      await finishFile(out);
    } catch (error) {
      await discardFile(out, target);
      part.file.resume();
      throw error;
    }
    const handle = await open(target, 'r');
    const head = Buffer.alloc(4096);
    const { bytesRead } = await handle.read(head, 0, head.length, 0).finally(() => handle.close());
    return { temp: target, size, sha256: hash.digest('hex'), head: head.subarray(0, bytesRead) };
  }

  const queueExtraction = async (datasetId: string) => {
    if (!jobs.started) return;
    await jobs
      .send(EXTRACT_JOB, { datasetId }, { singletonKey: `${EXTRACT_JOB}:${datasetId}` })
      .catch((error: unknown) =>
        logger.debug({ err: error, datasetId }, 'extraction already queued'),
      );
  };

  /** The row a document becomes in its collection. */
  /**
   * The row an earlier attempt at this document already added: its server stopped after the
   * row was appended and before the document recorded it, and the recovery queued it again.
   * The collection holds one document per content (a second copy is refused at upload), so
   * its SHA-256 finds that row, and the retry records it instead of adding a second.
   */
  const rowAlreadyAdded = async (
    actor: Actor,
    document: { project_id: string; dataset_id: string; sha256: string },
    columns: Record<ColumnKey, string>,
  ): Promise<string | undefined> => {
    const window = await sheets.readWindow(actor, document.project_id, document.dataset_id, {
      filters: [{ columnId: columns.sha256, op: 'equals', value: document.sha256 }],
      columns: [columns.sha256],
      limit: 1,
    });
    const row = window.rows[0];
    return row?.rowId;
  };

  const rowOf = (
    document: DocumentRow,
    columns: Record<ColumnKey, string>,
    status: string,
    extracted: Extracted | undefined,
    message: string | null,
  ) => ({
    [columns.name]: document.name,
    [columns.kind]: document.kind,
    [columns.pages]: extracted?.pages ? extracted.pages.length : null,
    [columns.size]: Number(document.size),
    [columns.sha256]: document.sha256,
    [columns.status]: status,
    [columns.error]: message,
    [columns.text]: extracted && extracted.text !== '' ? extracted.text : null,
    [columns.pageText]: extracted?.pages ?? null,
    [columns.documentId]: document.id,
  });

  /**
   * The text of `rows` (documents of one collection, with the collection's `columns`), one
   * string per page, into `pages` by document id: one read of the collection's cells.
   */
  async function readPages(
    actor: Actor,
    projectId: string,
    datasetId: string,
    columns: Record<ColumnKey, string>,
    rows: readonly { id: string; rowId: string | null }[],
    pages: Map<string, string[]>,
  ) {
    const listed: { id: string; rowId: string }[] = [];
    for (const row of rows) {
      if (row.rowId === null) pages.set(row.id, []);
      else listed.push({ id: row.id, rowId: row.rowId });
    }
    if (listed.length === 0) return;
    const cells = await sheets.readCells(
      actor,
      projectId,
      datasetId,
      [columns.pageText, columns.text],
      listed.map((row) => BigInt(row.rowId)),
    );
    for (const row of listed) {
      const cell = cells.get(row.rowId);
      const value = cell?.[columns.pageText]?.value;
      const parsed = typeof value === 'string' ? (JSON.parse(value) as unknown) : value;
      if (Array.isArray(parsed)) {
        pages.set(
          row.id,
          parsed.map((page) => (typeof page === 'string' ? page : '')),
        );
        continue;
      }
      // Formats without pages (text, HTML, DOCX, e-mail) are one page: their text.
      const text = cell?.[columns.text]?.value;
      pages.set(row.id, typeof text === 'string' && text !== '' ? [text] : []);
    }
  }

  /** Documents' text, one string per page, by id (the service's `pagesOf`). */
  async function pagesOf(actor: Actor, projectId: string, documentIds: readonly string[]) {
    await access.requireRole(actor, projectId, 'viewer');
    const pages = new Map<string, string[]>();
    const byCollection = new Map<string, { id: string; rowId: string | null }[]>();
    for (const row of await store.findMany(projectId, documentIds))
      byCollection.set(row.dataset_id, [
        ...(byCollection.get(row.dataset_id) ?? []),
        { id: row.id, rowId: row.row_id === null ? null : String(row.row_id) },
      ]);
    for (const [datasetId, rows] of byCollection) {
      const columns = await collectionColumns(actor, projectId, datasetId);
      await readPages(actor, projectId, datasetId, columns, rows, pages);
    }
    return pages;
  }

  const service = {
    /**
     * Receives every file of an upload, then records them in one transaction: a new
     * collection when `datasetId` is not given. Returns the documents queued (and those
     * refused as unsupported, which get a row with the reason) and the duplicates skipped.
     */
    async upload(
      actor: Actor,
      projectId: string,
      input: { files: AsyncIterable<UploadedPart>; datasetId?: string; name?: string },
    ) {
      await access.requireRole(actor, projectId, 'editor');
      if (input.datasetId) await collectionColumns(actor, projectId, input.datasetId);
      ensureDirs();
      const received: (Awaited<ReturnType<typeof receive>> & { name: string })[] = [];
      try {
        let total = 0;
        for await (const part of input.files) {
          if (received.length >= UPLOAD_MAX_FILES) {
            part.file.resume();
            throw new AppError('PAYLOAD_TOO_LARGE', `At most ${UPLOAD_MAX_FILES} files per upload`);
          }
          const name = displayName(part.filename, received.length);
          const file = await receive(part, settings.maxBatchBytes - total);
          total += file.size;
          received.push({ ...file, name });
        }
        if (received.length === 0)
          throw validationError('Send at least one file', [{ path: 'files', message: 'required' }]);

        const datasetId =
          input.datasetId ??
          (
            await sheets.createDataset(actor, projectId, {
              name: input.name ?? `Documents ${new Date().toISOString().slice(0, 10)}`,
              columns: COLLECTION_COLUMNS.map(({ name, type }) => ({ name, type })),
            })
          ).id;
        const known = new Map(
          (
            await store.knownHashes(
              datasetId,
              received.map((file) => file.sha256),
            )
          ).map((row) => [row.sha256, row]),
        );
        const duplicates: { name: string; duplicateOf: string }[] = [];
        const fresh: typeof received = [];
        for (const file of received) {
          const earlier = known.get(file.sha256);
          const inBatch = fresh.find((other) => other.sha256 === file.sha256);
          if (earlier) duplicates.push({ name: file.name, duplicateOf: earlier.name });
          else if (inBatch) duplicates.push({ name: file.name, duplicateOf: inBatch.name });
          else fresh.push(file);
        }
        const rows =
          fresh.length === 0
            ? []
            : await store.insert(
                fresh.map((file) => {
                  const sniffed = sniffDocument(file.head, file.name);
                  return {
                    id: uuidv7(),
                    project_id: projectId,
                    dataset_id: datasetId,
                    name: file.name,
                    kind: sniffed.kind ?? null,
                    media_type: sniffed.mediaType,
                    size: file.size,
                    sha256: file.sha256,
                    message: sniffed.kind
                      ? null
                      : (sniffed.reason ?? 'Not a supported document type'),
                    created_by: actor.via === 'system' ? null : actor.userId,
                  };
                }),
              );
        // Originals, once per content: a blob already there is the same bytes.
        for (const file of fresh) {
          const target = blobPath(file.sha256);
          if (await stat(target).catch(() => undefined)) await rm(file.temp, { force: true });
          else await rename(file.temp, target);
        }
        await queueExtraction(datasetId);
        return { datasetId, documents: rows.map(presentDocument), duplicates };
      } finally {
        for (const file of received) await rm(file.temp, { force: true }).catch(() => {});
      }
    },

    /** A new collection of the sample documents (document-samples.ts), extracted like any upload. */
    async addSamples(actor: Actor, projectId: string, input: { name?: string } = {}) {
      await access.requireRole(actor, projectId, 'editor');
      async function* files(): AsyncIterable<UploadedPart> {
        for (const sample of SAMPLE_DOCUMENTS)
          yield { filename: sample.name, file: Readable.from([await sampleBytes(sample)]) };
      }
      return service.upload(actor, projectId, {
        files: files(),
        name: input.name ?? 'Sample invoices',
      });
    },

    async collections(actor: Actor, projectId: string) {
      await access.requireRole(actor, projectId, 'viewer');
      return (await store.collections(projectId)).map((row) => ({
        id: row.id,
        name: row.name,
        documents: Number(row.documents),
      }));
    },

    async list(actor: Actor, projectId: string, datasetId: string) {
      await access.requireRole(actor, projectId, 'viewer');
      const rows = await store.list(projectId, datasetId);
      const counts: Record<string, number> = {};
      for (const row of rows) counts[row.status] = (counts[row.status] ?? 0) + 1;
      return { items: rows.map(presentDocument), counts };
    },

    async get(actor: Actor, projectId: string, documentId: string) {
      await access.requireRole(actor, projectId, 'viewer');
      const row = await store.find(projectId, documentId);
      if (!row) throw notFound('Document', documentId);
      return presentDocument(row);
    },

    /** A document's extracted text, one string per page (empty before extraction). */
    async pages(actor: Actor, projectId: string, documentId: string) {
      const pages = (await pagesOf(actor, projectId, [documentId])).get(documentId);
      if (!pages) throw notFound('Document', documentId);
      return { pages };
    },

    /**
     * The text of several documents, one string per page, by document id (ids that are not
     * documents of the project are left out): one access check and one read of each
     * collection's cells, however many documents.
     */
    pagesOf,

    /**
     * One collection's documents for work over many of them (an `extract` step): what it
     * needs of each — id, name, status, row — in the listing's order (not every column `list`
     * presents), and a reader of their text in batches. One access check and one read of the
     * collection's columns for both, beside the listing; then each batch is one read of the
     * collection's cells. A batch names documents as `documents` gave them (id and row id).
     */
    async collectionReader(actor: Actor, projectId: string, datasetId: string) {
      // The collection's read checks that the actor may view the project; the listing goes
      // beside it (one round trip) and is answered only once that check has passed.
      const [dataset, rows] = await Promise.all([
        sheets.getDataset(actor, projectId, datasetId),
        store.entries(projectId, datasetId),
      ]);
      // Only a read needs the text's columns: a dataset that is not a collection fails there,
      // and has no documents to read.
      let columns: Record<ColumnKey, string> | undefined;
      return {
        documents: rows.map((row) => ({
          id: row.id,
          name: row.name,
          status: row.status,
          rowId: row.row_id === null ? null : String(row.row_id),
        })),
        async pages(documents: readonly { id: string; rowId: string | null }[]) {
          columns ??= columnIdsOf(dataset);
          const pages = new Map<string, string[]>();
          await readPages(actor, projectId, datasetId, columns, documents, pages);
          return pages;
        },
      };
    },

    /** Plugs in a feature asked before any document is deleted (workflows). */
    guardDocumentDelete(guard: DocumentDeleteGuard): void {
      deleteGuards.push(guard);
    },

    /**
     * Deletes a document: its row in the collection, its record, and its original when no other
     * document keeps the same content. A document a workflow uses answers 409 naming the
     * workflows unless `force` (then the audit entry lists them).
     */
    async remove(
      actor: Actor,
      projectId: string,
      documentId: string,
      options: { force?: boolean } = {},
    ) {
      await access.requireRole(actor, projectId, 'editor');
      const row = await store.find(projectId, documentId);
      if (!row) throw notFound('Document', documentId);
      const usedBy: { kind: string; id: string; name: string }[] = [];
      for (const guard of deleteGuards)
        usedBy.push(...(await guard.usersOf(projectId, { id: row.id, datasetId: row.dataset_id })));
      if (usedBy.length > 0 && !options.force)
        throw conflict(
          `The document is used by ${usedBy.map((user) => `${user.kind} "${user.name}"`).join(', ')}; delete with force=true to delete it anyway`,
          { usedBy },
        );
      if (row.row_id !== null)
        await sheets
          .deleteRows(actor, projectId, row.dataset_id, [BigInt(row.row_id)])
          .catch((error: unknown) => {
            // A collection deleted meanwhile has no row to remove.
            if (!(error instanceof AppError && error.code === 'NOT_FOUND')) throw error;
          });
      await store.transaction(async (trx) => {
        await store.remove(documentId, trx);
        await audit.record(trx, {
          actor,
          action: usedBy.length > 0 ? 'document.delete-forced' : 'document.delete',
          entityType: 'document',
          entityId: documentId,
          projectId,
          summary: {
            name: row.name,
            datasetId: row.dataset_id,
            ...(usedBy.length > 0
              ? {
                  usedBy: usedBy.map((user) => ({ kind: user.kind, id: user.id, name: user.name })),
                }
              : {}),
          },
        });
      });
      if ((await store.countByHash(row.sha256)) === 0)
        await rm(blobPath(row.sha256), { force: true });
    },

    /** The stored original: its path (ours, by content hash) and how to serve it. */
    async original(actor: Actor, projectId: string, documentId: string) {
      await access.requireRole(actor, projectId, 'viewer');
      const row = await store.find(projectId, documentId);
      if (!row) throw notFound('Document', documentId);
      return {
        path: blobPath(row.sha256),
        name: row.name,
        mediaType: row.media_type,
        size: Number(row.size),
      };
    },

    /**
     * Extracts the collection's queued documents one after another and appends each one's
     * row (the job's handler; tests call it directly). Returns how many it finished.
     */
    async extractQueued(datasetId: string, signal?: AbortSignal) {
      let done = 0;
      let columns: Record<ColumnKey, string> | undefined;
      for (;;) {
        if (signal?.aborted) break;
        const document = await store.claimNext(datasetId);
        if (!document) break;
        const actor = systemActor();
        let status = 'unsupported';
        let message = document.message;
        let extracted: Extracted | undefined;
        // Another server's recovery queues a document again only when this beat stops.
        const beat = setInterval(() => {
          store.heartbeat(document.id).catch((error: unknown) => {
            logger.warn({ err: error, documentId: document.id }, 'document heartbeat');
          });
        }, EXTRACT_HEARTBEAT_SECONDS * 1000);
        beat.unref();
        try {
          columns ??= await collectionColumns(actor, document.project_id, datasetId);
          if (document.kind) {
            extracted = await extractDocument(
              blobPath(document.sha256),
              document.kind as DocumentKind,
              { ...DEFAULT_EXTRACT_LIMITS, timeoutMs: settings.extractTimeoutMs },
              signal,
            );
            status = extracted.status;
            message = extracted.message ?? null;
          }
          const rowId =
            (await rowAlreadyAdded(actor, document, columns)) ??
            (
              await sheets.appendRows(actor, document.project_id, datasetId, [
                rowOf(document, columns, status, extracted, message),
              ])
            ).rowIds[0];
          await store.finish(document.id, {
            status,
            message,
            pages: extracted?.pages ? extracted.pages.length : null,
            row_id: rowId === undefined ? null : String(rowId),
          });
        } catch (error) {
          logger.warn({ err: error, documentId: document.id }, 'document extraction failed');
          await store.finish(document.id, {
            status: 'failed',
            message: error instanceof AppError ? error.message : 'The document could not be added',
            pages: null,
            row_id: null,
          });
        } finally {
          clearInterval(beat);
        }
        done++;
      }
      return done;
    },

    /**
     * Documents a stopped server was extracting are queued again, and run: at start of the only
     * server, every one; with several servers (and every minute), those whose heartbeat stopped
     * `stalledSeconds` ago.
     */
    async recover(stalledSeconds?: number) {
      const interrupted = await store.requeueInterrupted(stalledSeconds);
      for (const datasetId of new Set([...interrupted, ...(await store.collectionsWithQueued())]))
        await queueExtraction(datasetId);
    },
  };
  return service;
}
export type DocumentService = ReturnType<typeof createDocumentService>;

/** A collection's column ids by key; 400 when the dataset is not a documents collection. */
function columnIdsOf(dataset: { columns: readonly { id: string; name: string }[] }) {
  const byName = new Map(dataset.columns.map((column) => [column.name, column.id]));
  const ids = {} as Record<ColumnKey, string>;
  for (const column of COLLECTION_COLUMNS) {
    const id = byName.get(column.name);
    if (!id)
      throw validationError(
        `The dataset is not a documents collection (no column ${column.name})`,
        [{ path: 'datasetId', message: 'not a documents collection' }],
      );
    ids[column.key] = id;
  }
  return ids;
}

/** A client's file name as display data only: its last segment, control characters removed. */
function displayName(filename: string, index: number): string {
  const last = filename.split(/[\\/]/).pop() ?? '';
  const clean = [...last]
    .filter((char) => {
      const code = char.codePointAt(0)!;
      return code > 0x1f && code !== 0x7f;
    })
    .join('')
    .trim()
    .slice(0, 255);
  return clean || `document-${index + 1}`;
}
