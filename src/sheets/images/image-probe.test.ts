import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { probeImage, sniffImage, THUMBNAIL_SIZE } from './image-probe.ts';
import { pngBomb, SCRIPTED_SVG, solidImage } from './image-test-fixtures.ts';

const limits = { maxBytes: 1024 * 1024, maxPixels: 4_000_000 };

describe('probeImage', () => {
  it.each([
    ['png', 'image/png'],
    ['jpeg', 'image/jpeg'],
    ['webp', 'image/webp'],
    ['gif', 'image/gif'],
  ] as const)(
    'accepts a %s by its bytes, with its dimensions and a WebP thumbnail',
    async (format, mediaType) => {
      const probed = await probeImage(
        await solidImage(format, { width: 600, height: 300 }),
        limits,
      );
      expect(probed).toMatchObject({ ok: true, mediaType, width: 600, height: 300 });
      if (!probed.ok) return;
      const thumbnail = await sharp(probed.thumbnail).metadata();
      expect(thumbnail).toMatchObject({ format: 'webp', width: THUMBNAIL_SIZE, height: 128 });
    },
  );

  it('accepts an SVG and rasterizes its thumbnail (the script is not part of a raster)', async () => {
    const probed = await probeImage(SCRIPTED_SVG, limits);
    expect(probed).toMatchObject({ ok: true, mediaType: 'image/svg+xml', width: 40, height: 30 });
    if (probed.ok) expect((await sharp(probed.thumbnail).metadata()).format).toBe('webp');
  });

  it('refuses a decompression bomb from its declared dimensions, before decoding', async () => {
    const probed = await probeImage(await pngBomb(), limits);
    expect(probed).toEqual({
      ok: false,
      reason: expect.stringMatching(
        /declares 100000×100000 pixels .* over the limit of 4\.0 megapixels/,
      ),
    });
  });

  it.each([
    ['a file that only claims to be one', Buffer.from('GIF89a but not really an image at all')],
    ['text', Buffer.from('hello, world')],
    ['an empty file', Buffer.alloc(0)],
    [
      'a PNG signature on random bytes',
      Buffer.concat([
        Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
        Buffer.alloc(64, 7),
      ]),
    ],
  ])('refuses %s with a reason', async (_, bytes) => {
    const probed = await probeImage(bytes, limits);
    expect(probed.ok).toBe(false);
    if (!probed.ok) expect(probed.reason).not.toMatch(/vips|sharp|Error:/);
  });

  it('refuses a truncated JPEG', async () => {
    const jpeg = await sharp({
      create: {
        width: 800,
        height: 800,
        channels: 3,
        background: 'black',
        noise: { type: 'gaussian', mean: 128, sigma: 60 },
      },
    })
      .jpeg()
      .toBuffer();
    const probed = await probeImage(jpeg.subarray(0, Math.floor(jpeg.length / 2)), limits);
    expect(probed).toEqual({ ok: false, reason: 'A truncated or corrupt jpeg image' });
  });

  it('refuses an image over the byte limit', async () => {
    const png = await solidImage('png');
    expect(await probeImage(png, { ...limits, maxBytes: png.length - 1 })).toEqual({
      ok: false,
      reason: `The image is larger than the limit of ${png.length - 1} bytes`,
    });
  });
});

describe('sniffImage', () => {
  it.each([
    ['<svg xmlns="http://www.w3.org/2000/svg"/>', 'image/svg+xml'],
    ['\uFEFF<?xml version="1.0"?>\n<!-- c --><!DOCTYPE svg><svg>', 'image/svg+xml'],
    ['<html><svg></svg></html>', undefined],
    ['<svgx>', undefined],
  ])('%s → %s', (text, expected) => {
    expect(sniffImage(Buffer.from(text))).toBe(expected);
  });
});
