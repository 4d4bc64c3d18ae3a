import { readSync } from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';

/**
 * Read-ahead for a bulk import of many small files (a legacy OpenCode JSON tree): a worker
 * thread opens, stats and reads them in the import's order while the import's thread parses
 * and writes the ones before. On two cores the import's thread was the bound — a third of its
 * time went to the four system calls per file — and the worker takes those off it.
 *
 * The worker decides nothing: it reports a file vanished, its fingerprint (a file seen before
 * whose size and mtime are the ones it was given, not read), its bytes, or "read it yourself"
 * (an error, a large or special file); the import then does what it did without a worker. A
 * worker that fails leaves every later file to the import's own reads.
 */

export const READ_FALLBACK = 0;
export const READ_VANISHED = 1;
export const READ_PRINT = 2;
export const READ_READ = 3;

/** The worker's data (monitor-read-worker.ts). */
export interface ReaderInput {
  paths: string[];
  /** The size and mtime a file had (NaN: none): equal ones are only lstat'ed, not read. */
  knownSize: Float64Array;
  knownMtimeMs: Float64Array;
  /** Larger files are left to the import (it reads them asynchronously or refuses them). */
  maxBytes: number;
  chunkFiles: number;
  aheadChunks: number;
  aheadBytes: number;
  /** A chunk's bytes at most: the files past it are left to the import (but one always fits). */
  chunkBytes: number;
}

/** One chunk of reads, its arrays and bytes transferred (not copied) to the import. */
export interface ReadChunk {
  from: number;
  status: Uint8Array<ArrayBuffer>;
  size: Float64Array<ArrayBuffer>;
  mtimeMs: Float64Array<ArrayBuffer>;
  ino: Float64Array<ArrayBuffer>;
  /** File i's bytes are bytes[offset[i], offset[i + 1]). */
  offset: Float64Array<ArrayBuffer>;
  bytes: ArrayBuffer;
}

export interface ReadPrint {
  size: number;
  mtimeMs: number;
  ino: number;
}

export type FileRead =
  | { kind: 'fallback' }
  | { kind: 'vanished' }
  | { kind: 'print'; print: ReadPrint }
  | { kind: 'read'; print: ReadPrint; content: Buffer };

export interface FileReader {
  /** File `index`'s read: at once when its chunk has arrived, else when it does. */
  take(index: number): FileRead | Promise<FileRead>;
  /** Stops the worker (it may still be reading ahead); idempotent. */
  close(): Promise<void>;
}

export interface FileToRead {
  path: string;
  known?: { size: number; mtimeMs: number } | undefined;
}

/**
 * Reads `length` bytes at `position` of an open file into `buffer` from `offset` on; returns
 * how many it got (fewer when the file was truncated while we read: what is there is what is
 * imported). The import's thread and the read-ahead worker both read this way.
 */
export function readInto(
  fd: number,
  buffer: Buffer,
  offset: number,
  length: number,
  position: number,
): number {
  let filled = 0;
  while (filled < length) {
    const read = readSync(fd, buffer, offset + filled, length - filled, position + filled);
    if (read === 0) break;
    filled += read;
  }
  return filled;
}

const WORKER = path.join(import.meta.dirname, 'monitor-read-worker.ts');
const CHUNK_FILES = 256;
/** 64 chunks (16,384 files) or 32 MiB read ahead at most. */
const AHEAD_CHUNKS = 64;
const AHEAD_BYTES = 32 * 1024 * 1024;
/** 256 files of up to 1 MiB could make one chunk 256 MiB: one holds 8 MiB of them at most. */
const CHUNK_BYTES = 8 * 1024 * 1024;
const ACK_CHUNKS = 8;
const FALLBACK: FileRead = { kind: 'fallback' };
const VANISHED: FileRead = { kind: 'vanished' };

export function startFileReader(
  files: readonly FileToRead[],
  maxBytes: number,
  /** Tests lower them (see AHEAD_BYTES, CHUNK_BYTES). */
  limits: { aheadBytes?: number; chunkBytes?: number } = {},
): FileReader {
  const input: ReaderInput = {
    paths: files.map((file) => file.path),
    knownSize: new Float64Array(files.length).fill(Number.NaN),
    knownMtimeMs: new Float64Array(files.length).fill(Number.NaN),
    maxBytes,
    chunkFiles: CHUNK_FILES,
    aheadChunks: AHEAD_CHUNKS,
    aheadBytes: limits.aheadBytes ?? AHEAD_BYTES,
    chunkBytes: limits.chunkBytes ?? CHUNK_BYTES,
  };
  files.forEach((file, index) => {
    if (!file.known) return;
    input.knownSize[index] = file.known.size;
    input.knownMtimeMs[index] = file.known.mtimeMs;
  });
  const chunkCount = Math.ceil(files.length / CHUNK_FILES);
  const chunks = new Map<number, ReadChunk>();
  let received = 0;
  let failed = false;
  let closed = false;
  let current = -1;
  let waiting: { chunk: number; resolve: () => void } | undefined;
  const wake = () => {
    const waiter = waiting;
    waiting = undefined;
    waiter?.resolve();
  };
  const worker = new Worker(WORKER, { workerData: input, stdout: true, stderr: true, env: {} });
  worker.on('message', (chunk: ReadChunk) => {
    const index = chunk.from / CHUNK_FILES;
    chunks.set(index, chunk);
    received++;
    if (waiting?.chunk === index) wake();
  });
  const stop = () => {
    if (received < chunkCount) failed = true;
    wake();
  };
  worker.on('error', stop);
  worker.on('exit', stop);

  let acknowledged = -1;
  const acknowledge = (chunk: number) => {
    if (chunk <= acknowledged || failed || closed) return;
    acknowledged = chunk;
    worker.postMessage({ ack: chunk });
  };

  const decode = (chunk: ReadChunk, at: number): FileRead => {
    const status = chunk.status[at];
    if (status === READ_VANISHED) return VANISHED;
    if (status !== READ_PRINT && status !== READ_READ) return FALLBACK;
    const print = { size: chunk.size[at]!, mtimeMs: chunk.mtimeMs[at]!, ino: chunk.ino[at]! };
    if (status === READ_PRINT) return { kind: 'print', print };
    const start = chunk.offset[at]!;
    return {
      kind: 'read',
      print,
      content: Buffer.from(chunk.bytes, start, chunk.offset[at + 1]! - start),
    };
  };

  const settle = (index: number, number: number): FileRead => {
    const chunk = chunks.get(number);
    return chunk ? decode(chunk, index - chunk.from) : FALLBACK;
  };

  return {
    take(index) {
      const number = Math.floor(index / CHUNK_FILES);
      if (number !== current) {
        // The import moved on: the chunks before are let go and the worker may read further.
        for (let old = Math.max(0, current); old < number; old++) chunks.delete(old);
        current = number;
        // Every ACK_CHUNKS chunks (a message wakes the worker's thread, which costs both), and
        // always before waiting: the worker may be waiting for it.
        if (number % ACK_CHUNKS === 0 || !chunks.has(number)) acknowledge(number - 1);
      }
      if (chunks.has(number) || failed || closed) return settle(index, number);
      return new Promise<FileRead>((resolve) => {
        waiting = { chunk: number, resolve: () => resolve(settle(index, number)) };
      });
    },
    async close() {
      if (closed) return;
      closed = true;
      chunks.clear();
      wake();
      await worker.terminate();
    },
  };
}
