import { closeSync, constants, fstatSync, lstatSync, openSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import {
  READ_FALLBACK,
  READ_PRINT,
  READ_READ,
  READ_VANISHED,
  type ReadChunk,
  type ReaderInput,
  readInto,
} from './monitor-reader.ts';

/**
 * The read-ahead worker of a bulk import (monitor-reader.ts): lstat/open/fstat/read/close of
 * each small file, in the import's order, into one buffer per chunk handed over without a
 * copy. It decides nothing about a file but whether it was read; the import decides the rest.
 * Only node: modules are imported, so the worker starts in a few milliseconds.
 */

const input = workerData as ReaderInput;
const port = parentPort!;
let acked = -1;
let wake: (() => void) | undefined;
port.on('message', (message: { ack: number }) => {
  acked = Math.max(acked, message.ack);
  wake?.();
});

function readChunk(from: number, to: number): ReadChunk {
  const count = to - from;
  const status = new Uint8Array(count);
  const size = new Float64Array(count);
  const mtimeMs = new Float64Array(count);
  const ino = new Float64Array(count);
  const offset = new Float64Array(count + 1);
  let buffer = Buffer.allocUnsafeSlow(Math.max(64 * 1024, count * 1024));
  let used = 0;
  for (let index = 0; index < count; index++) {
    offset[index] = used;
    const file = input.paths[from + index]!;
    const knownSize = input.knownSize[from + index]!;
    if (!Number.isNaN(knownSize)) {
      // Seen before: most are unchanged, and an lstat tells.
      let info: ReturnType<typeof lstatSync>;
      try {
        info = lstatSync(file, { throwIfNoEntry: false });
      } catch {
        status[index] = READ_FALLBACK; // the import's own lstat reports it
        continue;
      }
      if (!info) {
        status[index] = READ_VANISHED;
        continue;
      }
      if (
        info.size === knownSize &&
        Math.floor(info.mtimeMs) === input.knownMtimeMs[from + index]
      ) {
        status[index] = READ_PRINT;
        size[index] = info.size;
        mtimeMs[index] = Math.floor(info.mtimeMs);
        ino[index] = info.ino;
        continue;
      }
    }
    let fd: number;
    try {
      fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch (error) {
      status[index] =
        (error as NodeJS.ErrnoException).code === 'ENOENT' ? READ_VANISHED : READ_FALLBACK;
      continue;
    }
    try {
      const info = fstatSync(fd);
      if (!info.isFile() || info.size > input.maxBytes) {
        status[index] = READ_FALLBACK; // the import's own path reads or refuses it
        continue;
      }
      if (used > 0 && used + info.size > input.chunkBytes) {
        status[index] = READ_FALLBACK; // the chunk is full: the import reads this one
        continue;
      }
      if (used + info.size > buffer.length) {
        const grown = Buffer.allocUnsafeSlow(Math.max(buffer.length * 2, used + info.size));
        buffer.copy(grown, 0, 0, used);
        buffer = grown;
      }
      used += readInto(fd, buffer, used, info.size, 0);
      status[index] = READ_READ;
      size[index] = info.size;
      mtimeMs[index] = Math.floor(info.mtimeMs);
      ino[index] = info.ino;
    } catch {
      status[index] = READ_FALLBACK; // the import reads it again and reports the failure
    } finally {
      closeSync(fd);
    }
  }
  offset[count] = used;
  // allocUnsafeSlow: a buffer of its own (not the pool's), so it can be transferred.
  return { from, status, size, mtimeMs, ino, offset, bytes: buffer.buffer as ArrayBuffer };
}

async function run() {
  let chunk = 0;
  /** Bytes read per chunk, until the import has taken it. */
  const held: number[] = [];
  const heldBytes = () => {
    let bytes = 0;
    for (let index = acked + 1; index < chunk; index++) bytes += held[index] ?? 0;
    return bytes;
  };
  for (let from = 0; from < input.paths.length; from += input.chunkFiles, chunk++) {
    // Never more than `aheadChunks` chunks or `aheadBytes` the import has not taken (but
    // always one): a bounded memory however far behind the import's writes are.
    while (
      chunk - acked > input.aheadChunks ||
      (chunk - acked > 1 && heldBytes() > input.aheadBytes)
    ) {
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
      wake = undefined;
    }
    const read = readChunk(from, Math.min(input.paths.length, from + input.chunkFiles));
    held[chunk] = read.offset[read.offset.length - 1]!;
    port.postMessage(read, [
      read.bytes,
      read.status.buffer,
      read.size.buffer,
      read.mtimeMs.buffer,
      read.ino.buffer,
      read.offset.buffer,
    ]);
  }
  port.removeAllListeners('message'); // nothing left to wait for: the worker ends
}

await run();
