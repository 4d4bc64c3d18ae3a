import type { ProjectAccess } from '../../access/project-access.ts';
import type { Platform } from '../../platform/platform.ts';
import type { SheetService } from '../sheet-service.ts';
import { createImageBlobStore } from './image-blob-store.ts';
import { createImageService } from './image-service.ts';
import { createImageStore } from './image-store.ts';

/**
 * Wires image values (docs/images.md): the blob store under the data dir, the metadata store
 * and the service. No jobs: thumbnails are made when an image is stored.
 */
export function createImagesModule(deps: {
  platform: Pick<Platform, 'config' | 'database'>;
  access: ProjectAccess;
  sheets: SheetService;
}) {
  const { platform } = deps;
  const blobs = createImageBlobStore(platform.config.dataDir);
  const images = createImageService({
    store: createImageStore(platform.database.db),
    blobs,
    access: deps.access,
    sheets: deps.sheets,
    limits: platform.config.images,
  });
  return { images, blobs };
}
export type ImagesModule = ReturnType<typeof createImagesModule>;
