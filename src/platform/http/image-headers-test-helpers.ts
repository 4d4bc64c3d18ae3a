import { createHash } from 'node:crypto';
import type { LightMyRequestResponse } from 'fastify';
import { expect } from 'vitest';

/** An image answer (image-headers.ts): these bytes, cacheable forever under their hash, never sniffed. */
export function expectImageAnswer(
  response: LightMyRequestResponse,
  bytes: Buffer,
  mediaType: string,
) {
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  expect(response.statusCode).toBe(200);
  expect(response.rawPayload.equals(bytes)).toBe(true);
  expect(response.headers).toMatchObject({
    'content-type': mediaType,
    etag: `"${sha256}"`,
    'cache-control': 'private, max-age=31536000, immutable',
    'x-content-type-options': 'nosniff',
  });
}
