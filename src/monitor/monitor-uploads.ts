import { createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AppError, validationError } from '../platform/app-error.ts';
import { archiveKind, type UnpackState, unpackArchive } from './monitor-archive.ts';

/**
 * Uploaded log files land in a folder of their own under the data dir, each at the relative
 * path the client gave (`<session>/subagents/agent-x.jsonl`, `storage/part/<msg>/<id>.json`),
 * because where a file sits says what it is. That path is user text: it is checked segment by
 * segment and can never leave the folder.
 */

export const UPLOAD_MAX_FILES = 20_000;
/** All bytes unpacked from the archives of one upload (a bomb stops here: 413). */
export const UPLOAD_MAX_UNPACKED_BYTES = 1024 ** 3;
const SEGMENT = /^[A-Za-z0-9._@+=,-][A-Za-z0-9 ._@+=,-]{0,254}$/;
const MAX_DEPTH = 12;

/** A client's relative path, checked; throws a 400 naming the file otherwise. */
export function safeRelativePath(name: string, index: number): string {
  const field = `files[${index}]`;
  const refuse = (reason: string) =>
    validationError(`Uploaded file ${index + 1}: ${reason}`, [{ path: field, message: reason }]);
  if (name.length === 0 || name.length > 1_000)
    throw refuse('needs a file name of at most 1000 characters');
  if (name.startsWith('/') || /^[A-Za-z]:/.test(name))
    throw refuse('the name must be a relative path');
  if (name.includes('\\')) throw refuse('use / between folders');
  const segments = name.split('/');
  if (segments.length > MAX_DEPTH) throw refuse(`at most ${MAX_DEPTH} folders deep`);
  for (const segment of segments) {
    if (segment === '..' || segment === '.')
      throw refuse('the name may not contain . or .. folders');
    if (!SEGMENT.test(segment)) throw refuse('letters, digits and . _ - @ + = , only in names');
  }
  return segments.join('/');
}

/**
 * Writes every file under `folder`; a file over `maxBytes` is a 413, nothing kept. An archive
 * (`.zip`, `.tar`, `.tar.gz`, `.tgz`) is unpacked there instead (monitor-archive.ts), its
 * entries named like uploaded files. Returns how many files were written.
 */
export async function saveUploads(
  folder: string,
  files: AsyncIterable<{ filename: string; file: Readable & { truncated?: boolean } }>,
  maxBytes: number,
): Promise<number> {
  let count = 0;
  const seen = new Set<string>();
  const unpacked: UnpackState = { entries: 0, bytes: 0, seen };
  for await (const part of files) {
    if (count >= UPLOAD_MAX_FILES) {
      part.file.resume();
      throw new AppError('PAYLOAD_TOO_LARGE', `At most ${UPLOAD_MAX_FILES} files per upload`);
    }
    const relative = safeRelativePath(part.filename, count);
    const kind = archiveKind(relative);
    if (kind) {
      // Beside the folder, never in it: the archive itself is not a log file.
      const archive = `${folder}.archive`;
      try {
        await pipeline(part.file, createWriteStream(archive, { flags: 'w' }));
        if (part.file.truncated) {
          throw new AppError(
            'PAYLOAD_TOO_LARGE',
            `Uploaded file ${count + 1} is larger than ${maxBytes} bytes`,
          );
        }
        const index = count;
        const before = unpacked.entries;
        await unpackArchive(archive, kind, {
          archive: `Uploaded archive ${index + 1}`,
          field: `files[${index}]`,
          folder,
          limits: {
            maxEntryBytes: maxBytes,
            maxTotalBytes: UPLOAD_MAX_UNPACKED_BYTES,
            maxEntries: UPLOAD_MAX_FILES,
          },
          state: unpacked,
          checkName: (name) => safeRelativePath(name, index),
        });
        count += unpacked.entries - before;
      } finally {
        await rm(archive, { force: true });
      }
      continue;
    }
    if (seen.has(relative)) {
      part.file.resume();
      throw validationError(`Uploaded file ${count + 1}: ${relative} is sent twice`, [
        { path: `files[${count}]`, message: 'duplicate name' },
      ]);
    }
    seen.add(relative);
    const target = path.join(folder, relative);
    // Belt and braces: the checked name cannot leave the folder.
    if (!target.startsWith(`${folder}${path.sep}`))
      throw new AppError('VALIDATION_ERROR', 'Bad file name');
    await mkdir(path.dirname(target), { recursive: true });
    await pipeline(part.file, createWriteStream(target, { flags: 'wx' }));
    if (part.file.truncated) {
      throw new AppError(
        'PAYLOAD_TOO_LARGE',
        `Uploaded file ${count + 1} is larger than ${maxBytes} bytes`,
      );
    }
    count++;
  }
  return count;
}
