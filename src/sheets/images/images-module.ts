import type { Actor } from '../../access/actor.ts';
import type { AuditRecorder } from '../../access/audit-recorder.ts';
import type { ProjectAccess } from '../../access/project-access.ts';
import type { Platform } from '../../platform/platform.ts';
import { createSheetExportService, type ExportRequest } from '../export/sheet-export-service.ts';
import type { SheetImportService } from '../import/sheet-import-service.ts';
import type { SheetService } from '../sheet-service.ts';
import { createImageBlobStore } from './image-blob-store.ts';
import { createImageExportWriter, type ImageExportFormat } from './image-export.ts';
import { createParquetImageFiller } from './image-parquet-import.ts';
import { createImageService } from './image-service.ts';
import { createImageStore } from './image-store.ts';
import { createImageSweep, type ImageReferenceSource } from './image-sweep.ts';

export const SWEEP_JOB = 'sheets.sweep-image-blobs';
const SWEEP_EVERY_SECONDS = 3_600;

/**
 * Wires image values (docs/images.md): the blob store under the data dir, the metadata store
 * and the service, exports with images, and the hourly blob sweep (a job). Thumbnails are made
 * when an image is stored.
 */
export function createImagesModule(deps: {
  platform: Pick<Platform, 'config' | 'database' | 'duckdb' | 'jobs' | 'logger'>;
  access: ProjectAccess;
  audit: AuditRecorder;
  sheets: SheetService;
  /** Imports of Parquet image structs store their images through this feature. */
  imports?: Pick<SheetImportService, 'acceptImageColumns'>;
}) {
  const { platform } = deps;
  const blobs = createImageBlobStore(platform.config.dataDir);
  const store = createImageStore(platform.database.db);
  const images = createImageService({
    store,
    blobs,
    access: deps.access,
    sheets: deps.sheets,
    limits: platform.config.images,
  });
  // Exports with images take the one export path with the images part as its writer.
  const sheetExports = createSheetExportService({
    sheets: deps.sheets,
    duckdb: platform.duckdb,
    db: platform.database.db,
    audit: deps.audit,
    dataDir: platform.config.dataDir,
  });
  const writeImages = createImageExportWriter({
    duckdb: platform.duckdb,
    store,
    blobs,
    dataDir: platform.config.dataDir,
  });
  const exports = {
    /** A dataset with its images, for viewers and up; audited with `images: true`. */
    exportWithImages: (
      actor: Actor,
      projectId: string,
      datasetId: string,
      request: ExportRequest<ImageExportFormat>,
    ) => sheetExports.exportWith(actor, projectId, datasetId, request, writeImages),
  };
  deps.imports?.acceptImageColumns(
    createParquetImageFiller({
      duckdb: platform.duckdb,
      images,
      maxBytes: platform.config.images.maxBytes,
    }),
  );
  // Filled by the features that keep images of their own (chat), before the sweep first runs.
  const references: ImageReferenceSource[] = [];
  const sweep = createImageSweep({
    references,
    store,
    blobs,
    duckdb: platform.duckdb,
    logger: platform.logger.child({ module: 'images' }),
    graceMs: platform.config.images.sweepGraceHours * 3_600_000,
  });
  const scheduleSweep = (delaySeconds: number) =>
    platform.jobs
      .send(SWEEP_JOB, {}, { singletonKey: SWEEP_JOB, startAfter: delaySeconds })
      .catch((error: unknown) => {
        platform.logger.debug({ err: error, job: SWEEP_JOB }, 'job already scheduled');
      });
  return {
    images,
    blobs,
    exports,
    /** The images export writer alone (Hub publish writes its Parquet with it, audited apart). */
    writeImages,
    sweep,
    /** Another feature's references to the project's images: the sweep keeps them linked. */
    acceptReferences(source: ImageReferenceSource) {
      references.push(source);
    },
    /** The hourly blob sweep (docs/images.md "Blob sweep"). */
    registerJobs() {
      platform.jobs.register({
        name: SWEEP_JOB,
        handler: async () => {
          const result = await sweep.sweep();
          await scheduleSweep(SWEEP_EVERY_SECONDS);
          return result;
        },
      });
    },
    async start() {
      if (platform.jobs.started) await scheduleSweep(SWEEP_EVERY_SECONDS);
    },
  };
}
export type ImagesModule = ReturnType<typeof createImagesModule>;
