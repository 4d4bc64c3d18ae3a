import { createContext, useContext, useState } from 'react';
import type { ImageReference } from '../../../src/shared/api-types.ts';
import { ThumbnailPrefetchContext } from '../grid/thumbnail-prefetch.ts';
import { Dialog } from '../ui/dialog.tsx';

/** The project whose images the grid shows (image URLs are project-scoped: docs/images.md). */
export const ImageProjectContext = createContext<string | undefined>(undefined);

const SHA256 = /^[0-9a-f]{64}$/;

/** A cell value that is an image reference; anything else shows as text. */
export function asImageReference(value: unknown): ImageReference | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const record = value as Record<string, unknown>;
  return typeof record.sha256 === 'string' &&
    SHA256.test(record.sha256) &&
    typeof record.mediaType === 'string' &&
    typeof record.name === 'string'
    ? (record as unknown as ImageReference)
    : undefined;
}

export const imageUrl = (projectId: string, sha256: string, thumbnail: boolean) =>
  `/api/projects/${encodeURIComponent(projectId)}/images/${sha256}${thumbnail ? '/thumbnail' : ''}`;

/**
 * An image cell: the server-made thumbnail (from our origin), and a button that opens
 * the picture large. SVG opens as its raster thumbnail: the original is only ever downloaded.
 */
export function ImageCell({ value }: { value: unknown }) {
  const projectId = useContext(ImageProjectContext);
  const prefetched = useContext(ThumbnailPrefetchContext);
  const [open, setOpen] = useState(false);
  const image = asImageReference(value);
  if (!image || !projectId) return <>{typeof value === 'string' ? value : JSON.stringify(value)}</>;
  const large = imageUrl(projectId, image.sha256, image.mediaType === 'image/svg+xml');
  return (
    <>
      <button
        type="button"
        className="image-cell"
        title={`${image.name} — ${image.width}×${image.height}`}
        onClick={(event) => {
          event.stopPropagation();
          setOpen(true);
        }}
      >
        <img
          className="thumb"
          // The grid's prefetch (a data URL, shown at once), else the thumbnail's URL.
          src={prefetched?.source(image.sha256) ?? imageUrl(projectId, image.sha256, true)}
          alt={image.name}
          // Eager: the grid renders only the rows in view and a few ahead (virtualized), so
          // lazy loading saves nothing and waits for an intersection check before fetching.
          loading="eager"
          decoding="async"
        />
      </button>
      {open && (
        <Dialog open title={image.name} onClose={() => setOpen(false)} wide>
          <figure className="image-lightbox">
            <img src={large} alt={image.name} />
            <figcaption>
              {image.width}×{image.height} · {image.mediaType} · {image.bytes.toLocaleString()}{' '}
              bytes
            </figcaption>
          </figure>
        </Dialog>
      )}
    </>
  );
}
