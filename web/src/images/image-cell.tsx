import {
  createContext,
  useCallback,
  useContext,
  useEffect,
  useState,
  useSyncExternalStore,
} from 'react';
import type { ImageReference } from '../../../src/shared/api-types.ts';
import {
  type ThumbnailPrefetch,
  ThumbnailPrefetchContext,
  type ThumbnailState,
} from '../grid/thumbnail-prefetch.ts';
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
 * The thumbnail a cell shows, from the grid's batches: asked for with the other cells in view
 * when it is not held (one request for a screen), re-rendered when its batch answers. Without
 * a prefetch (outside the grid) it is the thumbnail's URL.
 */
function useThumbnail(prefetch: ThumbnailPrefetch | undefined, sha256: string): ThumbnailState {
  const subscribe = useCallback(
    (listener: () => void) => prefetch?.subscribe(sha256, listener) ?? (() => {}),
    [prefetch, sha256],
  );
  const state = useSyncExternalStore(subscribe, () => prefetch?.state(sha256) ?? 'url');
  useEffect(() => {
    if (state === 'waiting') prefetch?.need(sha256);
  }, [prefetch, sha256, state]);
  return state;
}

/**
 * An image cell: the server-made thumbnail (from our origin), and a button that opens
 * the picture large. SVG opens as its raster thumbnail: the original is only ever downloaded.
 */
export function ImageCell({ value }: { value: unknown }) {
  const projectId = useContext(ImageProjectContext);
  const prefetched = useContext(ThumbnailPrefetchContext);
  const [open, setOpen] = useState(false);
  const image = asImageReference(value);
  const thumbnail = useThumbnail(prefetched, image?.sha256 ?? '');
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
          // The grid's batch (a data URL, shown at once); none while it is on its way; the
          // thumbnail's URL if the batch failed or left it out.
          src={
            thumbnail === 'waiting'
              ? undefined
              : thumbnail === 'url'
                ? imageUrl(projectId, image.sha256, true)
                : thumbnail
          }
          // No name while waiting: the image's name is not shown as text before its picture.
          alt={thumbnail === 'waiting' ? '' : image.name}
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
