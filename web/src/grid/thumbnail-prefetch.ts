import { createContext } from 'react';
import { api } from '../api/api-client.ts';
import type { Row } from '../api/sheet-api.ts';

/** One thumbnail of a batch: its image's hash, its media type, its bytes in base64. */
export interface ThumbnailData {
  sha256: string;
  mediaType: string;
  data: string;
}

/** Asks the server for many thumbnails at once (hashes it does not hold are left out). */
export type FetchThumbnails = (hashes: string[]) => Promise<ThumbnailData[]>;

export interface ThumbnailPrefetchOptions {
  fetchThumbnails: FetchThumbnails;
  /** Hashes per request ahead of the view (the server takes at most 200). */
  batchSize?: number;
  /** Hashes per request for the cells in view (one screen, one request: the server's 200). */
  screenBatchSize?: number;
  /** Requests in flight at once. */
  concurrency?: number;
  /** Characters of data URLs kept; the least recently used beyond this are dropped. */
  maxChars?: number;
}

const SHA256 = /^[0-9a-f]{64}$/;

/** The thumbnails' batch route (docs/images.md "In the grid"). */
export const fetchProjectThumbnails =
  (projectId: string): FetchThumbnails =>
  async (hashes) =>
    (
      await api<{ thumbnails: ThumbnailData[] }>(
        `/api/projects/${encodeURIComponent(projectId)}/images/thumbnails`,
        { method: 'POST', body: { sha256: hashes } },
      )
    ).thumbnails;

/** What an image cell shows: the data URL, nothing yet (its batch is coming), or its URL. */
export type ThumbnailState = string | 'waiting' | 'url';

/**
 * Thumbnails of the rows ahead of the grid's viewport, fetched many per request and kept as
 * `data:` URLs: a cell that scrolls into view shows its picture in the frame it appears
 * (Chromium loads a data URL at once, with no request), where one request per thumbnail — six
 * at a time per host over HTTP/1.1 — left cells blank through a fast scroll. The cells in view
 * whose thumbnail is not here (the first screen, a long jump) ask for it with `need`: those
 * asked in one turn of the event loop go out together, one request for a screen, and the cells
 * wait for it (`subscribe`). Only a thumbnail whose batch failed, or that the batch left out,
 * falls back to its URL.
 */
export class ThumbnailPrefetch {
  private readonly fetchThumbnails: FetchThumbnails;
  private readonly batchSize: number;
  private readonly concurrency: number;
  private readonly maxChars: number;
  /** Hash → data URL, least recently used first. */
  private readonly sources = new Map<string, string>();
  private chars = 0;
  private readonly pending = new Set<string>();
  /** Asked for and not answered: the project does not hold them (not asked again). */
  private readonly absent = new Set<string>();
  /** Asked for, and the batch failed: the cells use the URL (the prefetch may ask again). */
  private readonly failed = new Set<string>();
  private queue: string[] = [];
  private inflight = 0;
  /** Cells in view waiting, gathered until the end of the turn (`need`). */
  private needed = new Set<string>();
  private readonly screenBatchSize: number;
  private readonly listeners = new Map<string, Set<() => void>>();

  constructor(options: ThumbnailPrefetchOptions) {
    this.fetchThumbnails = options.fetchThumbnails;
    this.batchSize = options.batchSize ?? 100;
    this.screenBatchSize = options.screenBatchSize ?? 200;
    this.concurrency = options.concurrency ?? 2;
    this.maxChars = options.maxChars ?? 48 * 1024 * 1024;
  }

  /** The thumbnail as a data URL, if it has arrived. */
  source(sha256: string): string | undefined {
    const source = this.sources.get(sha256);
    if (source !== undefined) {
      this.sources.delete(sha256);
      this.sources.set(sha256, source);
    }
    return source;
  }

  /** What a cell shows for this hash now (reading a data URL counts as a use for the LRU). */
  state(sha256: string): ThumbnailState {
    const source = this.source(sha256);
    if (source !== undefined) return source;
    return this.failed.has(sha256) || this.absent.has(sha256) || !SHA256.test(sha256)
      ? 'url'
      : 'waiting';
  }

  /** Calls `listener` when this hash's state changes; returns the unsubscribe. */
  subscribe(sha256: string, listener: () => void): () => void {
    let set = this.listeners.get(sha256);
    if (!set) {
      set = new Set();
      this.listeners.set(sha256, set);
    }
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0 && this.listeners.get(sha256) === set) this.listeners.delete(sha256);
    };
  }

  /**
   * A cell in view needs this thumbnail now. Those needed in the same turn go out at once,
   * up to `screenBatchSize` a request, ahead of (and besides) the prefetch's own requests.
   */
  need(sha256: string): void {
    if (this.state(sha256) !== 'waiting' || this.pending.has(sha256)) return;
    if (this.needed.size === 0) queueMicrotask(() => this.sendNeeded());
    this.needed.add(sha256);
  }

  private sendNeeded(): void {
    const hashes = [...this.needed].filter(
      (sha256) => !this.pending.has(sha256) && this.state(sha256) === 'waiting',
    );
    this.needed = new Set();
    for (let at = 0; at < hashes.length; at += this.screenBatchSize) {
      const batch = hashes.slice(at, at + this.screenBatchSize);
      for (const sha256 of batch) this.pending.add(sha256);
      void this.load(batch);
    }
  }

  /**
   * Declares the thumbnails wanted next, nearest first: replaces what was queued and not yet
   * asked for (the user scrolled on), and asks for those not held.
   */
  want(hashes: Iterable<string>): void {
    const queue: string[] = [];
    const seen = new Set<string>();
    for (const sha256 of hashes) {
      if (seen.has(sha256) || !SHA256.test(sha256)) continue;
      seen.add(sha256);
      if (this.sources.has(sha256) || this.pending.has(sha256) || this.absent.has(sha256)) continue;
      queue.push(sha256);
    }
    this.queue = queue;
    this.pump();
  }

  /** Thumbnails held now (tests and the memory bound). */
  get size(): number {
    return this.sources.size;
  }

  private pump(): void {
    while (this.inflight < this.concurrency && this.queue.length > 0) {
      const batch = this.queue.splice(0, this.batchSize);
      for (const sha256 of batch) this.pending.add(sha256);
      this.inflight += 1;
      void this.load(batch).finally(() => {
        this.inflight -= 1;
        this.pump();
      });
    }
  }

  private async load(batch: string[]): Promise<void> {
    try {
      const found = await this.fetchThumbnails(batch);
      const answered = new Set<string>();
      for (const thumbnail of found) {
        if (!batch.includes(thumbnail.sha256)) continue;
        answered.add(thumbnail.sha256);
        this.failed.delete(thumbnail.sha256);
        this.keep(thumbnail.sha256, `data:${thumbnail.mediaType};base64,${thumbnail.data}`);
      }
      for (const sha256 of batch) if (!answered.has(sha256)) this.absent.add(sha256);
    } catch {
      // A failed batch is not fatal: those cells fetch their thumbnail's URL as before.
      for (const sha256 of batch) this.failed.add(sha256);
    } finally {
      for (const sha256 of batch) {
        this.pending.delete(sha256);
        for (const listener of [...(this.listeners.get(sha256) ?? [])]) listener();
      }
    }
  }

  private keep(sha256: string, source: string): void {
    const previous = this.sources.get(sha256);
    if (previous !== undefined) this.chars -= previous.length;
    this.sources.delete(sha256);
    this.sources.set(sha256, source);
    this.chars += source.length;
    for (const [oldest, dropped] of this.sources) {
      if (this.chars <= this.maxChars || oldest === sha256) break;
      this.sources.delete(oldest);
      this.chars -= dropped.length;
    }
  }
}

/** The grid's thumbnail prefetch; image cells read their data URLs from it. */
export const ThumbnailPrefetchContext = createContext<ThumbnailPrefetch | undefined>(undefined);

/**
 * The image hashes of the rows after `from` (or before it, scrolling up), nearest first, in
 * these columns, for the rows the cache holds.
 */
export function hashesAhead(
  rowAt: (index: number) => Row | undefined,
  columnIds: readonly string[],
  from: number,
  count: number,
  direction: 1 | -1,
): string[] {
  const hashes: string[] = [];
  for (let step = 0; step < count; step++) {
    const index = from + step * direction;
    if (index < 0) break;
    const row = rowAt(index);
    if (!row) continue;
    for (const columnId of columnIds) {
      const value = row.cells[columnId]?.value;
      if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
        const sha256 = (value as Record<string, unknown>).sha256;
        if (typeof sha256 === 'string') hashes.push(sha256);
      }
    }
  }
  return hashes;
}
