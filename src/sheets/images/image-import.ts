import { once } from 'node:events';
import { closeSync, createReadStream, createWriteStream, openSync, readSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { validationError } from '../../platform/app-error.ts';
import { discardFile, finishFile } from '../../platform/file-writes.ts';
import {
  inflateZipEntry,
  listZipEntries,
  ZipEntryTooLargeError,
  type ZipReader,
} from '../../platform/zip.ts';
import { streamToTempFile, tooLarge } from '../import/import-files.ts';
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

/**
 * Bytes an import lets become garbage (received chunks, ZIP entries read and inflated) before
 * it asks V8 for a young-generation collection (a scavenge: a few milliseconds, the import's
 * objects being short-lived). Every chunk a stream delivers is a buffer of its own, outside
 * V8's heap; V8 scavenges when its young generation fills with JavaScript objects, which a
 * stream of chunks hardly creates, and starts a full collection only once such memory has
 * grown 64 MB since the last one. So a folder import held up to ~64 MiB of dead chunks at
 * some moment of some runs, and glibc kept the heap they had filled (RSS 35–40 MiB higher
 * for the rest of the import, docs/images.md "Benchmarks"). Collected every 16 MiB, the dead
 * chunks stay under that, whatever the upload's size.
 */
const COLLECT_AFTER_BYTES = 16 * 1024 * 1024;

type Collector = (options: { type: 'minor' }) => void;
let collector: Collector | undefined;

/**
 * V8's `gc` (what `--expose-gc` gives), taken once from a fresh context when the process was
 * started without it; the flag is turned off again at once, so no other context sees it.
 */
function v8Collector(): Collector {
  const exposed = (globalThis as { gc?: Collector }).gc;
  if (exposed) return exposed;
  setFlagsFromString('--expose-gc');
  try {
    return runInNewContext('gc') as Collector;
  } finally {
    setFlagsFromString('--no-expose-gc');
  }
}

/** Counts bytes that are garbage once handled; a young-generation collection every `every`. */
export function createGarbageBound(every = COLLECT_AFTER_BYTES) {
  let since = 0;
  let collections = 0;
  return {
    get collections() {
      return collections;
    },
    add(bytes: number) {
      since += bytes;
      if (since < every) return;
      since = 0;
      collections += 1;
      collector ??= v8Collector();
      collector({ type: 'minor' });
    },
  };
}
type GarbageBound = ReturnType<typeof createGarbageBound>;

/** Reads a file's bytes at an offset (sync, one entry at a time: memory stays at one entry). */
function fileReader(file: string, garbage: GarbageBound): { read: ZipReader; close: () => void } {
  const fd = openSync(file, 'r');
  return {
    read: (offset, length) => {
      garbage.add(length);
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
  garbage: GarbageBound,
): Generator<IncomingImage | { name: string; refused: string }> {
  for (const entry of entries) {
    if (skipped(entry.name)) continue;
    let bytes: Buffer;
    try {
      bytes = inflateZipEntry(entry, reader.read, maxBytes);
    } catch (error) {
      yield {
        name: entry.name,
        refused:
          error instanceof ZipEntryTooLargeError
            ? `The image inflates past the limit of ${maxBytes} bytes`
            : `The ZIP entry could not be read (${(error as Error).message})`,
      };
      continue;
    }
    yield { name: entry.name, bytes };
    // Stored by now (the consumer asks for the next entry only then): the inflated bytes are dead.
    garbage.add(bytes.length);
  }
}

/** A part's first bytes: a ZIP's local file header signature ("PK\x03\x04"). */
const ZIP_SIGNATURE = 0x04034b50;

/** The receive buffer's first size; it doubles up to the image byte limit as parts need. */
const FIRST_BUFFER_BYTES = 1024 * 1024;

/**
 * One buffer an import's image parts are received into, one after the other: it grows to the
 * largest part seen (at most the image byte limit) and is reused, so receiving a folder
 * allocates no memory per file (a new buffer per image left the C heap to hold them until the
 * garbage collector ran, and RSS rose with the files read).
 */
function createPartBuffer(maxBytes: number) {
  let buffer = Buffer.allocUnsafeSlow(Math.min(FIRST_BUFFER_BYTES, maxBytes + 1));
  let size = 0;
  return {
    get size() {
      return size;
    },
    reset: () => {
      size = 0;
    },
    /** Appends what fits under `maxBytes + 1` (one byte past the limit says "too large"). */
    append: (chunk: Uint8Array) => {
      const room = maxBytes + 1 - size;
      if (room <= 0) return;
      const take = chunk.length <= room ? chunk : chunk.subarray(0, room);
      if (size + take.length > buffer.length) {
        const grown = Buffer.allocUnsafeSlow(
          Math.min(Math.max(buffer.length * 2, size + take.length), maxBytes + 1),
        );
        buffer.copy(grown, 0, 0, size);
        buffer = grown;
      }
      buffer.set(take, size);
      size += take.length;
    },
    /** The bytes received, valid until the next part is received. */
    bytes: () => buffer.subarray(0, size),
  };
}

/** The chunks already read, then the rest of the same stream; each counted once handled. */
async function* resumed(
  head: Uint8Array[],
  rest: AsyncIterator<Uint8Array>,
  garbage: GarbageBound,
) {
  for (const chunk of head) {
    yield chunk;
    garbage.add(chunk.length);
  }
  for (let next = await rest.next(); !next.done; next = await rest.next()) {
    yield next.value;
    garbage.add(next.value.length);
  }
}

/**
 * Receives the parts of an image import one at a time, each handed on before the next is
 * read: the images of a part are stored while the rest of the upload waits in the socket, so
 * memory holds one part, however many the folder has. A part that starts like a ZIP is
 * streamed to a temp file (at most `zipMaxBytes`; its central directory must be one we read,
 * else 400 naming the part) and its entries are inflated one by one; any other part is one
 * image, received into a reused buffer (past the image byte limit it is refused, its bytes
 * counted up to `zipMaxBytes` and dropped). A part's images must be consumed before the next
 * part is asked for; a temp file is removed when its part is done or the import ends.
 */
export async function* receiveImageParts(
  parts: AsyncIterable<{ filename: string; file: AsyncIterable<Uint8Array> }>,
  blobs: ImageBlobStore,
  limits: { maxBytes: number; zipMaxBytes: number },
  garbage: GarbageBound = createGarbageBound(),
): AsyncGenerator<ImportSource> {
  const received = createPartBuffer(limits.maxBytes);
  let files = 0;
  const counted = (count: number) => {
    files += count;
    if (files > MAX_IMPORT_FILES)
      throw validationError(`An import reads at most ${MAX_IMPORT_FILES} files`, [
        { path: 'file', message: 'too many files' },
      ]);
  };
  for await (const part of parts) {
    const name = part.filename || 'upload';
    const chunks = part.file[Symbol.asyncIterator]();
    // The first bytes decide what the part is; they are kept for whichever path reads it.
    const head: Uint8Array[] = [];
    let headBytes = 0;
    while (headBytes < 4) {
      const next = await chunks.next();
      if (next.done) break;
      head.push(next.value);
      headBytes += next.value.length;
    }
    const first = Buffer.concat(head, Math.min(headBytes, 4));
    if (first.length === 4 && first.readUInt32LE(0) === ZIP_SIGNATURE) {
      const written = await streamToTempFile(
        resumed(head, chunks, garbage),
        path.dirname(blobs.tempPath()),
        limits.zipMaxBytes,
      );
      const reader = fileReader(written.path, garbage);
      try {
        let entries: ReturnType<typeof listZipEntries>;
        try {
          entries = listZipEntries(reader.read, written.size);
        } catch (error) {
          throw validationError(`${name}: ${(error as Error).message}`, [
            { path: 'file', message: (error as Error).message },
          ]);
        }
        counted(entries.length);
        yield { name, images: zipImages(limits.maxBytes, reader, entries, garbage) };
      } finally {
        reader.close();
        await rm(written.path, { force: true });
      }
      continue;
    }
    counted(1);
    received.reset();
    let size = 0;
    for await (const chunk of resumed(head, chunks, garbage)) {
      size += chunk.length;
      if (size > limits.zipMaxBytes) throw tooLarge(limits.zipMaxBytes);
      received.append(chunk);
    }
    yield {
      name,
      images: [
        size > limits.maxBytes
          ? { name, refused: `The image is larger than the limit of ${limits.maxBytes} bytes` }
          : { name, bytes: received.bytes() },
      ],
    };
  }
}

/**
 * The rows of an import, kept in a temp file (one JSON line each) until the upload has been
 * received whole: nothing is written into a dataset before an upload that fails midway (a
 * broken ZIP, too many files, a cut connection) has failed, and memory does not grow with the
 * number of files. `close()` removes the file.
 */
export function createRowSpool<Row>(file: string) {
  const out = createWriteStream(file, { flags: 'wx', mode: 0o600 });
  let count = 0;
  return {
    get count() {
      return count;
    },
    async add(row: Row) {
      count += 1;
      if (!out.write(`${JSON.stringify(row)}\n`)) await once(out, 'drain');
    },
    /** The rows in order, `size` at a time (the spool takes no more rows). */
    async *batches(size: number): AsyncGenerator<Row[]> {
      await finishFile(out);
      let batch: Row[] = [];
      for await (const line of createInterface({ input: createReadStream(file) })) {
        batch.push(JSON.parse(line) as Row);
        if (batch.length >= size) {
          yield batch;
          batch = [];
        }
      }
      if (batch.length > 0) yield batch;
    },
    close: () => discardFile(out, file),
  };
}
