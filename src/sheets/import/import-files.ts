import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream, mkdirSync } from 'node:fs';
import { open } from 'node:fs/promises';
import path from 'node:path';
import { AppError } from '../../platform/app-error.ts';
import { discardFile, finishFile } from '../../platform/file-writes.ts';

/** Where uploads and downloads land before import: the data dir, under random names only. */
export function importDir(dataDir: string): string {
  const dir = path.join(dataDir, 'imports');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return dir;
}

/** A fresh path in `dir`. The client's filename never reaches the file system. */
export function randomImportPath(dir: string, suffix = '.upload'): string {
  return path.join(dir, `${randomUUID()}${suffix}`);
}

export const tooLarge = (maxBytes: number) =>
  new AppError(
    'PAYLOAD_TOO_LARGE',
    `The file is larger than the import limit of ${maxBytes} bytes`,
    { details: { maxBytes } },
  );

/**
 * Streams bytes to a new file under a random name, counting them: past `maxBytes` the file
 * is removed and PAYLOAD_TOO_LARGE thrown. Memory stays at one chunk whatever the size.
 */
export async function streamToTempFile(
  source: AsyncIterable<Uint8Array>,
  dir: string,
  maxBytes: number,
  onProgress?: (bytes: number) => void,
): Promise<{ path: string; size: number }> {
  const target = randomImportPath(dir);
  const out = createWriteStream(target, { flags: 'wx', mode: 0o600 });
  let size = 0;
  try {
    for await (const chunk of source) {
      size += chunk.length;
      if (size > maxBytes) throw tooLarge(maxBytes);
      // events.once rejects on 'error' and removes its listeners either way.
      if (!out.write(chunk)) await once(out, 'drain');
      onProgress?.(size);
    }
    await finishFile(out);
    return { path: target, size };
  } catch (error) {
    await discardFile(out, target);
    throw error;
  }
}

/** The first bytes of a file, for content sniffing. */
export async function readHead(file: string, bytes = 64 * 1024): Promise<Uint8Array> {
  const handle = await open(file, 'r');
  try {
    const buffer = Buffer.alloc(bytes);
    const { bytesRead } = await handle.read(buffer, 0, bytes, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}
