import { closeSync, openSync, readSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { validationError } from '../../platform/app-error.ts';
import {
  inflateZipEntry,
  listZipEntries,
  ZipEntryTooLargeError,
  type ZipReader,
} from '../../platform/zip.ts';
import { readHead, streamToTempFile } from '../import/import-files.ts';
import type { ImageBlobStore } from './image-blob-store.ts';
import type { IncomingImage } from './image-service.ts';

/** What one uploaded part holds: a ZIP of images, or one image file. */
export interface ImportSource {
  name: string;
  /** The images in order, one at a time (an entry is inflated only when it is reached). */
  images: Iterable<IncomingImage | { name: string; refused: string }>;
}

/** Most files one import reads (a ZIP's entries and plain parts together). */
export const MAX_IMPORT_FILES = 100_000;

/** Entries that are not files of the user's: folders, macOS resource forks, hidden files. */
const skipped = (name: string) =>
  name.endsWith('/') ||
  name.split('/').some((segment) => segment.startsWith('.') || segment === '__MACOSX');

/** Reads a file's bytes at an offset (sync, one entry at a time: memory stays at one entry). */
function fileReader(file: string): { read: ZipReader; close: () => void } {
  const fd = openSync(file, 'r');
  return {
    read: (offset, length) => {
      const buffer = Buffer.alloc(length);
      let done = 0;
      while (done < length) {
        const got = readSync(fd, buffer, done, length - done, offset + done);
        if (got === 0) break;
        done += got;
      }
      return buffer.subarray(0, done);
    },
    close: () => closeSync(fd),
  };
}

/**
 * The images of a ZIP on disk: the central directory is read first (an archive we cannot read
 * is refused whole, naming the part), then each entry is inflated when its turn comes, with
 * the image byte limit enforced on the bytes it really inflates to (platform/zip.ts).
 */
function* zipImages(
  maxBytes: number,
  reader: ReturnType<typeof fileReader>,
  entries: ReturnType<typeof listZipEntries>,
): Generator<IncomingImage | { name: string; refused: string }> {
  for (const entry of entries) {
    if (skipped(entry.name)) continue;
    try {
      yield { name: entry.name, bytes: inflateZipEntry(entry, reader.read, maxBytes) };
    } catch (error) {
      yield {
        name: entry.name,
        refused:
          error instanceof ZipEntryTooLargeError
            ? `The image inflates past the limit of ${maxBytes} bytes`
            : `The ZIP entry could not be read (${(error as Error).message})`,
      };
    }
  }
}

/**
 * Receives the parts of an image import to temp files (at most `zipMaxBytes` each, streamed),
 * and opens each as an ImportSource. A part that starts like a ZIP must be one we read; any
 * other part is one image. `close()` removes the temp files.
 */
export async function receiveImageParts(
  parts: AsyncIterable<{ filename: string; file: AsyncIterable<Uint8Array> }>,
  blobs: ImageBlobStore,
  limits: { maxBytes: number; zipMaxBytes: number },
) {
  const temps: string[] = [];
  const readers: ReturnType<typeof fileReader>[] = [];
  const close = async () => {
    for (const reader of readers) reader.close();
    await Promise.all(temps.map((temp) => rm(temp, { force: true })));
  };
  const sources: ImportSource[] = [];
  let files = 0;
  try {
    for await (const part of parts) {
      const name = part.filename || 'upload';
      const written = await streamToTempFile(
        part.file,
        path.dirname(blobs.tempPath()),
        limits.zipMaxBytes,
      );
      temps.push(written.path);
      const head = Buffer.from(await readHead(written.path, 4));
      if (head.readUInt32LE(0) === 0x04034b50) {
        const reader = fileReader(written.path);
        readers.push(reader);
        let entries: ReturnType<typeof listZipEntries>;
        try {
          entries = listZipEntries(reader.read, written.size);
        } catch (error) {
          throw validationError(`${name}: ${(error as Error).message}`, [
            { path: 'file', message: (error as Error).message },
          ]);
        }
        files += entries.length;
        sources.push({
          name,
          images: zipImages(limits.maxBytes, reader, entries),
        });
      } else {
        files += 1;
        const file = written.path;
        const size = written.size;
        sources.push({
          name,
          images: (function* () {
            if (size > limits.maxBytes)
              yield {
                name,
                refused: `The image is larger than the limit of ${limits.maxBytes} bytes`,
              };
            else {
              const reader = fileReader(file);
              try {
                yield { name, bytes: reader.read(0, size) };
              } finally {
                reader.close();
              }
            }
          })(),
        });
      }
      if (files > MAX_IMPORT_FILES)
        throw validationError(`An import reads at most ${MAX_IMPORT_FILES} files`, [
          { path: 'file', message: 'too many files' },
        ]);
    }
  } catch (error) {
    await close();
    throw error;
  }
  return { sources, close };
}
