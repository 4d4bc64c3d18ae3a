import sharp, { type Metadata } from 'sharp';

// libvips keeps recent operations and their decoded pixels (sharp's default: up to 50 MB and
// 100 operations) to answer a repeat at once. Our images are content-addressed and each is
// decoded once (probe, thumbnail), so the cache never answers and only holds memory: a folder
// import's RSS climbed with the files it had read until the cache was full.
sharp.cache(false);

/** The limits every image is held to, wherever it comes from (upload, ZIP, a model). */
export interface ImageLimits {
  maxBytes: number;
  maxPixels: number;
}

/** The longest side of a thumbnail, in pixels. */
export const THUMBNAIL_SIZE = 256;
export const THUMBNAIL_MEDIA_TYPE = 'image/webp';

export type ProbedImage =
  | {
      ok: true;
      mediaType: string;
      width: number;
      height: number;
      /** The server-side thumbnail (WebP, no metadata), made while checking the image decodes. */
      thumbnail: Buffer;
    }
  | { ok: false; reason: string };

const startsWith = (bytes: Buffer, signature: number[], at = 0) =>
  signature.every((byte, index) => bytes[at + index] === byte);

/** sharp's format name for each media type we accept. */
const SHARP_FORMAT: Record<string, string> = {
  'image/png': 'png',
  'image/jpeg': 'jpeg',
  'image/gif': 'gif',
  'image/webp': 'webp',
  'image/svg+xml': 'svg',
};

/**
 * The media type by magic bytes (the name and the client's media type are never trusted). SVG
 * has no signature: text whose first element is `<svg` (after an XML declaration, comments or
 * a doctype) counts.
 */
export function sniffImage(head: Buffer): string | undefined {
  if (startsWith(head, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'image/png';
  if (startsWith(head, [0xff, 0xd8, 0xff])) return 'image/jpeg';
  if (startsWith(head, [0x47, 0x49, 0x46, 0x38])) return 'image/gif';
  if (startsWith(head, [0x52, 0x49, 0x46, 0x46]) && startsWith(head, [0x57, 0x45, 0x42, 0x50], 8))
    return 'image/webp';
  const text = head
    .subarray(0, 4096)
    .toString('utf8')
    .replace(/^\uFEFF/, '');
  const prolog = /^\s*(<\?xml[^>]*>\s*)?(<!--[\s\S]*?-->\s*|<!doctype[^>]*>\s*)*<svg[\s>]/i;
  if (prolog.test(text)) return 'image/svg+xml';
  return undefined;
}

const megapixels = (pixels: number) => `${(pixels / 1e6).toFixed(1)} megapixels`;

/**
 * Checks one file is an image we keep, and makes its thumbnail. In order: the byte limit; the
 * magic bytes; the dimensions the header declares (read without decoding pixels), against the
 * pixel limit — a decompression bomb stops here, before anything inflates; then a full decode
 * at thumbnail size, which refuses truncated and corrupt data. The reason is a sentence for the
 * user, never a library's message.
 */
export async function probeImage(bytes: Buffer, limits: ImageLimits): Promise<ProbedImage> {
  if (bytes.length === 0) return { ok: false, reason: 'The file is empty' };
  if (bytes.length > limits.maxBytes)
    return { ok: false, reason: `The image is larger than the limit of ${limits.maxBytes} bytes` };
  const mediaType = sniffImage(bytes);
  if (!mediaType)
    return {
      ok: false,
      reason: 'Not an image this server accepts (PNG, JPEG, GIF, WebP or SVG, by its bytes)',
    };
  let metadata: Metadata;
  try {
    // Header only: sharp reads dimensions without decoding the pixels.
    metadata = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch {
    return { ok: false, reason: `A broken ${SHARP_FORMAT[mediaType]} image (unreadable header)` };
  }
  if (metadata.format !== SHARP_FORMAT[mediaType])
    return { ok: false, reason: 'The image data does not match its signature' };
  const width = metadata.width;
  const height = metadata.height;
  if (!width || !height) return { ok: false, reason: 'The image declares no dimensions' };
  const pixels = width * height * Math.max(1, metadata.pages ?? 1);
  if (pixels > limits.maxPixels)
    return {
      ok: false,
      reason: `The image declares ${width}×${height} pixels (${megapixels(pixels)}), over the limit of ${megapixels(limits.maxPixels)}`,
    };
  try {
    const thumbnail = await makeThumbnail(bytes, limits.maxPixels);
    return { ok: true, mediaType, width, height, thumbnail };
  } catch {
    return { ok: false, reason: `A truncated or corrupt ${SHARP_FORMAT[mediaType]} image` };
  }
}

/** The thumbnail: fits THUMBNAIL_SIZE, EXIF orientation applied, metadata dropped, WebP. */
export function makeThumbnail(bytes: Buffer, maxPixels: number): Promise<Buffer> {
  return sharp(bytes, { failOn: 'error', limitInputPixels: maxPixels })
    .rotate()
    .resize(THUMBNAIL_SIZE, THUMBNAIL_SIZE, { fit: 'inside', withoutEnlargement: true })
    .webp({ quality: 80 })
    .toBuffer();
}

/** The PNG a model is sent for an image it cannot take as it is (SVG), at most 1024 a side. */
export function pngRendition(bytes: Buffer, maxPixels: number): Promise<Buffer> {
  return sharp(bytes, { failOn: 'error', limitInputPixels: maxPixels })
    .resize(1024, 1024, { fit: 'inside', withoutEnlargement: true })
    .png()
    .toBuffer();
}
