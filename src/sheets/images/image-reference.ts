import type { ImageReference } from '../../shared/api-types.ts';

export type { ImageReference } from '../../shared/api-types.ts';

/** The media types an image value may have: what image-probe.ts recognizes by magic bytes. */
export const IMAGE_MEDIA_TYPES = [
  'image/png',
  'image/jpeg',
  'image/gif',
  'image/webp',
  'image/svg+xml',
] as const;

const SHA256 = /^[0-9a-f]{64}$/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const MAX_NAME = 255;

const positiveInteger = (value: unknown): value is number =>
  typeof value === 'number' && Number.isSafeInteger(value) && value > 0;

/**
 * The reference an image cell holds, checked field by field: a value of any other shape is
 * refused with the field named. A well-formed reference proves nothing about access: the routes
 * and vision calls look the hash up in the project's own images (image-store.ts), so a
 * reference copied from another project reads as missing.
 */
export function parseImageReference(
  value: unknown,
): { ok: true; reference: ImageReference } | { ok: false; field: string; message: string } {
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    return { ok: false, field: '', message: 'must be an image reference object' };
  const record = value as Record<string, unknown>;
  const extra = Object.keys(record).find(
    (key) => !['sha256', 'mediaType', 'bytes', 'width', 'height', 'name'].includes(key),
  );
  if (extra !== undefined) return { ok: false, field: extra, message: 'is not a reference field' };
  if (typeof record.sha256 !== 'string' || !SHA256.test(record.sha256))
    return { ok: false, field: 'sha256', message: 'must be 64 lowercase hex digits' };
  if (!(IMAGE_MEDIA_TYPES as readonly unknown[]).includes(record.mediaType))
    return {
      ok: false,
      field: 'mediaType',
      message: `must be one of ${IMAGE_MEDIA_TYPES.join(', ')}`,
    };
  for (const field of ['bytes', 'width', 'height'] as const)
    if (!positiveInteger(record[field]))
      return { ok: false, field, message: 'must be a positive whole number' };
  if (typeof record.name !== 'string' || record.name.length > MAX_NAME || CONTROL.test(record.name))
    return {
      ok: false,
      field: 'name',
      message: `must be text of at most ${MAX_NAME} characters without control characters`,
    };
  return {
    ok: true,
    reference: {
      sha256: record.sha256,
      mediaType: record.mediaType as string,
      bytes: record.bytes as number,
      width: record.width as number,
      height: record.height as number,
      name: record.name,
    },
  };
}

/** A value that reads as an image reference (for code that only needs to tell). */
export const isImageReference = (value: unknown): value is ImageReference =>
  parseImageReference(value).ok;
