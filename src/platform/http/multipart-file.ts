import type { FastifyRequest } from 'fastify';
import { AppError, validationError } from '../app-error.ts';

/**
 * The one `file` part of a multipart request, read whole (uploads of an image or an export):
 * 400 naming `file` when there is none, 413 naming it past `maxBytes` — the multipart plugin's
 * `fileSize` limit, set by the route, cuts the stream there.
 */
export async function readOneFile(
  request: FastifyRequest,
  options: { maxBytes: number; noun: 'image' | 'file' },
): Promise<{ filename: string; bytes: Buffer }> {
  const part = await request.file();
  if (!part) throw validationError('file is required', [{ path: 'file', message: 'required' }]);
  try {
    return { filename: part.filename, bytes: await part.toBuffer() };
  } catch {
    throw new AppError(
      'PAYLOAD_TOO_LARGE',
      `The ${options.noun} is larger than the limit of ${options.maxBytes} bytes`,
      { details: { field: 'file', maxBytes: options.maxBytes } },
    );
  }
}
