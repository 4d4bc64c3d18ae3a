import type { FastifyReply, FastifyRequest } from 'fastify';

/**
 * Headers of every image we serve (sheet cells and chat attachments): our bytes are immutable
 * per hash (ETag = the hash), private to the project's members, never sniffed into another
 * type, and sandboxed should a browser ever open one as a document. SVG goes out as an
 * attachment only (it can carry script).
 */
export function imageHeaders(reply: FastifyReply, sha256: string, mediaType: string) {
  return reply
    .header('content-type', mediaType)
    .header('etag', `"${sha256}"`)
    .header('cache-control', 'private, max-age=31536000, immutable')
    .header('x-content-type-options', 'nosniff')
    .header('content-security-policy', "default-src 'none'; sandbox")
    .header(
      'content-disposition',
      mediaType === 'image/svg+xml'
        ? `attachment; filename="${sha256}.svg"`
        : `inline; filename="${sha256}"`,
    );
}

/** Whether the client already holds this hash (`If-None-Match`): answer 304. */
export const notModified = (request: FastifyRequest, sha256: string) =>
  (request.headers['if-none-match'] ?? '')
    .split(',')
    .some((tag) => tag.trim().replace(/^W\//, '') === `"${sha256}"`);
