import { crc32 } from 'node:zlib';
import JSZip from 'jszip';
import sharp from 'sharp';
import type { TestApp } from '../../../test/test-platform.ts';
import type { Actor } from '../../access/actor.ts';
import type { ImageReference } from './image-reference.ts';

/** A solid-colour image of the given format, made by sharp (tests and benchmarks). */
export function solidImage(
  format: 'png' | 'jpeg' | 'webp' | 'gif',
  options: { width?: number; height?: number; colour?: { r: number; g: number; b: number } } = {},
): Promise<Buffer> {
  return sharp({
    create: {
      width: options.width ?? 64,
      height: options.height ?? 48,
      channels: 3,
      background: options.colour ?? { r: 200, g: 40, b: 90 },
    },
  })
    .toFormat(format)
    .toBuffer();
}

/**
 * A PNG whose header declares `width`×`height` while its data is a few bytes: a decompression
 * bomb as far as any decoder that trusts the header goes. The IHDR CRC is recomputed so only
 * the dimensions give it away.
 */
export async function pngBomb(width = 100_000, height = 100_000): Promise<Buffer> {
  const png = Buffer.from(await solidImage('png', { width: 1, height: 1 }));
  // Signature (8) + length (4) + "IHDR" (4), then width and height.
  png.writeUInt32BE(width, 16);
  png.writeUInt32BE(height, 20);
  png.writeUInt32BE(crc32(png.subarray(12, 29)), 29);
  return png;
}

/** An SVG that tries to run script when opened as a document. */
export const SCRIPTED_SVG = Buffer.from(
  '<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="40" height="30"><script>alert(document.cookie)</script><rect width="40" height="30" fill="red"/></svg>',
);

/** A ZIP of the given files (deflated), as a browser's "zip a folder" would send it. */
export function zipOf(files: { name: string; bytes: Buffer | string }[]): Promise<Buffer> {
  const zip = new JSZip();
  for (const file of files) zip.file(file.name, file.bytes);
  return zip.generateAsync({ type: 'nodebuffer', compression: 'DEFLATE' });
}

/** `bytes` stored as an image of `projectId` through the app's image store, as an upload is. */
export async function storedImage(
  t: TestApp,
  projectId: string,
  name: string,
  bytes: Buffer,
): Promise<ImageReference> {
  const stored = await t.app.features.images.images.storeImage(projectId, { name, bytes });
  if (!stored.ok) throw new Error(stored.reason);
  return stored.reference;
}

/**
 * A dataset `Pets` of an image column `Photo` and a text column `Caption`, one row per
 * `[image, caption]` (an image may be null); made by `actor` through the sheets service.
 */
export async function petsDataset(
  t: TestApp,
  actor: Actor,
  projectId: string,
  rows: [ImageReference | null, string][],
): Promise<string> {
  const sheets = t.app.features.sheets.sheets;
  const dataset = await sheets.createDataset(actor, projectId, {
    name: 'Pets',
    columns: [
      { name: 'Photo', type: 'image' },
      { name: 'Caption', type: 'text' },
    ],
  });
  const [photo, caption] = dataset.columns.map((column) => column.id) as [string, string];
  await sheets.appendRows(
    actor,
    projectId,
    dataset.id,
    rows.map(([reference, text]) => ({ [photo]: reference as never, [caption]: text })),
  );
  return dataset.id;
}
