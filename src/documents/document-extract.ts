import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { DocumentKind } from './document-sniff.ts';

/** What extraction made of one document. */
export interface Extracted {
  /**
   * ready: text extracted; no-text: nothing to read (an image, a scan without a text layer);
   * encrypted / corrupt: the file could not be opened; failed: extraction ran out of time or
   * memory, or broke.
   */
  status: 'ready' | 'no-text' | 'encrypted' | 'corrupt' | 'failed';
  /** For a person: why there is no text, or what was left out. */
  message?: string;
  /** Text per page, for formats that have pages (PDF); null otherwise. */
  pages: string[] | null;
  text: string;
}

export interface ExtractLimits {
  /** The worker's heap; a file that needs more fails alone (a ZIP bomb, a huge page). */
  heapMb: number;
  timeoutMs: number;
  maxPages: number;
  maxChars: number;
  /** What a DOCX may unpack to (checked on the real inflated bytes, platform/zip.ts). */
  maxUnpackedBytes: number;
}

export const DEFAULT_EXTRACT_LIMITS: ExtractLimits = {
  heapMb: 256,
  timeoutMs: 60_000,
  maxPages: 5_000,
  maxChars: 5_000_000,
  maxUnpackedBytes: 100 * 1024 * 1024,
};

const WORKER = path.join(import.meta.dirname, 'document-extract-worker.ts');

/**
 * Extracts one document's text in a worker thread with its own heap limit and a deadline: a
 * hostile or broken file costs that worker, never the server (the worker is terminated; the
 * document gets status `failed` with the reason), whatever the parsers would do with it.
 */
export function extractDocument(
  file: string,
  kind: DocumentKind,
  limits: ExtractLimits = DEFAULT_EXTRACT_LIMITS,
  signal?: AbortSignal,
): Promise<Extracted> {
  const failed = (message: string): Extracted => ({
    status: 'failed',
    message,
    pages: null,
    text: '',
  });
  if (signal?.aborted) return Promise.resolve(failed('Text extraction was cancelled'));
  return new Promise((resolve) => {
    const worker = new Worker(WORKER, {
      workerData: {
        file,
        kind,
        maxPages: limits.maxPages,
        maxChars: limits.maxChars,
        maxUnpackedBytes: limits.maxUnpackedBytes,
      },
      resourceLimits: { maxOldGenerationSizeMb: limits.heapMb, maxYoungGenerationSizeMb: 32 },
      stdout: true,
      stderr: true,
      env: {},
    });
    let settled = false;
    const finish = (extracted: Extracted) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      void worker.terminate();
      resolve(extracted);
    };
    const timer = setTimeout(
      () =>
        finish(failed(`Text extraction took longer than ${Math.round(limits.timeoutMs / 1000)} s`)),
      limits.timeoutMs,
    );
    const onAbort = () => finish(failed('Text extraction was cancelled'));
    signal?.addEventListener('abort', onAbort, { once: true });
    worker.once('message', (extracted: Extracted) => finish(extracted));
    worker.once('error', (error: Error & { code?: string }) =>
      finish(
        failed(
          error.code === 'ERR_WORKER_OUT_OF_MEMORY'
            ? `Text extraction needed more than ${limits.heapMb} MiB of memory`
            : `Text extraction failed (${error.message.slice(0, 200)})`,
        ),
      ),
    );
    worker.once('exit', () => finish(failed('Text extraction stopped without a result')));
  });
}
