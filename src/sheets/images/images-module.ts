import type { AuditRecorder } from '../../access/audit-recorder.ts';
import type { ProjectAccess } from '../../access/project-access.ts';
import type { Platform } from '../../platform/platform.ts';
import type { SheetService } from '../sheet-service.ts';
import { createImageBlobStore } from './image-blob-store.ts';
import { createImageExportService } from './image-export.ts';
import { createImageService } from './image-service.ts';
import { createImageStore } from './image-store.ts';

/**
 * Wires image values (docs/images.md): the blob store under the data dir, the metadata store
 * and the service. No jobs: thumbnails are made when an image is stored.
 */
export function createImagesModule(deps: {
  platform: Pick<Platform, 'config' | 'database' | 'duckdb'>;
  access: ProjectAccess;
  audit: AuditRecorder;
  sheets: SheetService;
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
  const exports = createImageExportService({
    sheets: deps.sheets,
    duckdb: platform.duckdb,
    store,
    blobs,
    audit: deps.audit,
    db: platform.database.db,
    dataDir: platform.config.dataDir,
  });
  return { images, blobs, exports };
}
export type ImagesModule = ReturnType<typeof createImagesModule>;
