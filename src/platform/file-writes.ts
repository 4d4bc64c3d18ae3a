import { once } from 'node:events';
import type { WriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';

// Writing a file from a stream: finish it for sure, or leave nothing behind.

/** Ends `out` and resolves once everything written is flushed (or rejects with why not). */
export function finishFile(out: WriteStream): Promise<void> {
  return new Promise<void>((resolve, reject) =>
    out.end((error?: Error | null) => (error ? reject(error) : resolve())),
  );
}

/** Stops writing `out` after a failure and removes its file, `target`. */
export async function discardFile(out: WriteStream, target: string): Promise<void> {
  // The file is opened asynchronously: wait until the stream has opened (if it was going
  // to) and closed, or a late open would create the file again after the rm.
  const closed = out.closed ? Promise.resolve() : once(out, 'close').then(() => undefined);
  out.destroy();
  await closed.catch(() => {});
  await rm(target, { force: true });
}
