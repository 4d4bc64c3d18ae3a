import type { Cell, Filter, Row, RowWindow, Sort } from '../api/sheet-api.ts';

export interface ViewQuery {
  sort: Sort[];
  filters: Filter[];
  search: string;
}

export type FetchWindow = (
  offset: number,
  limit: number,
  signal: AbortSignal,
) => Promise<RowWindow>;

export interface RowCacheOptions {
  fetchWindow: FetchWindow;
  /** Rows per request. */
  pageSize?: number;
  /** Pages kept; the least recently used beyond this are dropped. */
  maxPages?: number;
  /** Requests in flight at once. */
  concurrency?: number;
  /** Called after fetch failures (shown to the user once per burst). */
  onError?: (error: unknown) => void;
  /** Schedules a notification; the grid passes requestAnimationFrame. */
  schedule?: (callback: () => void) => void;
}

interface Page {
  rows: Row[];
  lastUsed: number;
  stale: boolean;
}

/** Cell updates remembered for pages that are being fetched while the update arrives. */
const RECENT_LIMIT = 50_000;

const cellKey = (rowId: string, columnId: string) => `${rowId}\u0000${columnId}`;

/**
 * The grid's window of a large dataset: fixed-size pages fetched on demand around the
 * viewport, a bounded LRU of pages, live cell updates applied in place by row id, and one
 * change notification per animation frame however many updates arrive.
 *
 * The grid never asks for more than what is on screen plus a margin, so a million-row dataset
 * costs a few hundred rows of memory; stale pages keep showing until their refresh arrives, so
 * a reload never blanks the screen.
 */
export class RowCache {
  readonly pageSize: number;
  private readonly maxPages: number;
  private readonly concurrency: number;
  private readonly fetchWindow: FetchWindow;
  private readonly onError: ((error: unknown) => void) | undefined;
  private readonly schedule: (callback: () => void) => void;

  private pages = new Map<number, Page>();
  private inflight = new Map<number, AbortController>();
  private queue: number[] = [];
  private wanted = new Set<number>();
  private rowsById = new Map<string, { page: number; index: number }>();
  private recent = new Map<string, Cell>();
  private listeners = new Set<() => void>();
  private notifyScheduled = false;
  private clock = 0;
  private generation = 0;
  private lastError = 0;

  /** Rows in the current view (filters applied); undefined until the first answer. */
  total: number | undefined;
  /** Bumped once per notified change: the value React subscribes to. */
  version = 0;
  /** Cell updates applied since creation (for the live-region summary). */
  appliedUpdates = 0;
  /** The event id of the first snapshot: the live stream resumes after it. */
  lastEventId: number | undefined;

  constructor(options: RowCacheOptions) {
    this.fetchWindow = options.fetchWindow;
    this.pageSize = options.pageSize ?? 100;
    this.maxPages = options.maxPages ?? 60;
    this.concurrency = options.concurrency ?? 3;
    this.onError = options.onError;
    this.schedule = options.schedule ?? ((callback) => queueMicrotask(callback));
  }

  subscribe = (listener: () => void) => {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  };

  getVersion = () => this.version;

  /** The row at a 0-based position in the view, if its page is loaded (possibly stale). */
  rowAt(index: number): Row | undefined {
    const page = this.pages.get(Math.floor(index / this.pageSize));
    return page?.rows[index % this.pageSize];
  }

  isLoaded(index: number): boolean {
    return this.pages.has(Math.floor(index / this.pageSize));
  }

  /**
   * Declares what is on screen: fetches the pages it needs first, then `margin` rows either
   * side, and forgets pending requests the user has scrolled away from.
   */
  ensure(first: number, last: number, margin = this.pageSize): void {
    const total = this.total;
    const lastIndex = total === undefined ? last : Math.min(last, Math.max(0, total - 1));
    const visible = this.pagesBetween(first, lastIndex);
    const around = this.pagesBetween(
      Math.max(0, first - margin),
      total === undefined ? lastIndex + margin : Math.min(total - 1, lastIndex + margin),
    );
    const wanted = [...visible, ...around.filter((page) => !visible.includes(page))];
    this.wanted = new Set(wanted);
    for (const page of visible) {
      const cached = this.pages.get(page);
      if (cached) cached.lastUsed = ++this.clock;
    }
    // Requests for pages nobody looks at any more are cancelled.
    for (const [page, controller] of this.inflight) {
      if (!this.wanted.has(page)) {
        controller.abort();
        this.inflight.delete(page);
      }
    }
    this.queue = wanted.filter((page) => {
      const cached = this.pages.get(page);
      return (!cached || cached.stale) && !this.inflight.has(page);
    });
    this.pump();
  }

  /** Marks every page stale: visible ones are fetched again, and show their old rows meanwhile. */
  invalidate(): void {
    for (const page of this.pages.values()) page.stale = true;
    for (const controller of this.inflight.values()) controller.abort();
    this.inflight.clear();
    this.queue = [...this.wanted];
    this.pump();
  }

  /** Drops everything (a new sort or filter): the next `ensure` starts from scratch. */
  reset(): void {
    this.generation += 1;
    for (const controller of this.inflight.values()) controller.abort();
    this.inflight.clear();
    this.pages.clear();
    this.rowsById.clear();
    this.queue = [];
    this.total = undefined;
    this.notify();
  }

  /** Applies live cell updates; cells older than what we hold are ignored. */
  applyCells(columnId: string, cells: readonly (Cell & { rowId: string })[]): void {
    let changed = false;
    for (const update of cells) {
      const { rowId, ...cell } = update;
      const key = cellKey(rowId, columnId);
      const known = this.recent.get(key);
      if (known && known.version > cell.version) continue;
      this.recent.delete(key);
      this.recent.set(key, cell);
      if (this.recent.size > RECENT_LIMIT) this.recent.delete(this.recent.keys().next().value!);
      const at = this.rowsById.get(rowId);
      if (!at) continue;
      const page = this.pages.get(at.page);
      const row = page?.rows[at.index];
      if (!page || !row || row.rowId !== rowId) continue;
      const current = row.cells[columnId];
      if (current && current.version > cell.version) continue;
      page.rows[at.index] = { ...row, cells: { ...row.cells, [columnId]: cell } };
      changed = true;
    }
    this.appliedUpdates += cells.length;
    if (changed) this.notify();
  }

  /** Changes the row count (rows appended or deleted elsewhere) and refreshes. */
  setTotal(total: number): void {
    this.total = total;
    this.notify();
  }

  /** Row ids of loaded rows between two positions (inclusive); missing ones are skipped. */
  rowIdsBetween(first: number, last: number): string[] {
    const ids: string[] = [];
    for (let index = first; index <= last; index++) {
      const row = this.rowAt(index);
      if (row) ids.push(row.rowId);
    }
    return ids;
  }

  /** Fetches (if needed) and returns the rows between two positions, for copy. */
  async rowsBetween(first: number, last: number): Promise<(Row | undefined)[]> {
    const pages = this.pagesBetween(first, last);
    await Promise.all(
      pages
        .filter((page) => !this.pages.has(page) || this.pages.get(page)!.stale)
        .map((page) => this.load(page, new AbortController(), this.generation)),
    );
    const rows: (Row | undefined)[] = [];
    for (let index = first; index <= last; index++) rows.push(this.rowAt(index));
    return rows;
  }

  private pagesBetween(first: number, last: number): number[] {
    const pages: number[] = [];
    if (last < first) return pages;
    for (
      let page = Math.floor(first / this.pageSize);
      page <= Math.floor(last / this.pageSize);
      page++
    )
      pages.push(page);
    return pages;
  }

  private pump(): void {
    while (this.inflight.size < this.concurrency && this.queue.length > 0) {
      const page = this.queue.shift()!;
      if (this.inflight.has(page)) continue;
      const controller = new AbortController();
      this.inflight.set(page, controller);
      void this.load(page, controller, this.generation).finally(() => {
        if (this.inflight.get(page) === controller) this.inflight.delete(page);
        this.pump();
      });
    }
  }

  private async load(page: number, controller: AbortController, generation: number): Promise<void> {
    try {
      const window = await this.fetchWindow(page * this.pageSize, this.pageSize, controller.signal);
      if (generation !== this.generation || controller.signal.aborted) return;
      this.store(page, window);
    } catch (error) {
      if (controller.signal.aborted || (error as Error).name === 'AbortError') return;
      // One message per burst of failures, not one per page.
      if (Date.now() - this.lastError > 5_000) this.onError?.(error);
      this.lastError = Date.now();
    }
  }

  private store(page: number, window: RowWindow): void {
    const previous = this.pages.get(page);
    if (previous) for (const row of previous.rows) this.rowsById.delete(row.rowId);
    const rows = window.rows.map((row) => this.withRecent(row));
    this.pages.set(page, { rows, lastUsed: ++this.clock, stale: false });
    rows.forEach((row, index) => {
      this.rowsById.set(row.rowId, { page, index });
    });
    this.total = window.total;
    this.lastEventId ??= window.lastEventId;
    this.evict();
    this.notify();
  }

  /** A page fetched while updates were streaming: keep the newest version of each cell. */
  private withRecent(row: Row): Row {
    let cells = row.cells;
    for (const columnId of Object.keys(row.cells)) {
      const recent = this.recent.get(cellKey(row.rowId, columnId));
      if (recent && recent.version > (row.cells[columnId]?.version ?? -1)) {
        if (cells === row.cells) cells = { ...row.cells };
        cells[columnId] = recent;
      }
    }
    return cells === row.cells ? row : { ...row, cells };
  }

  private evict(): void {
    if (this.pages.size <= this.maxPages) return;
    const candidates = [...this.pages.entries()]
      .filter(([page]) => !this.wanted.has(page))
      .sort((a, b) => a[1].lastUsed - b[1].lastUsed);
    for (const [page, entry] of candidates) {
      if (this.pages.size <= this.maxPages) break;
      this.pages.delete(page);
      for (const row of entry.rows) {
        if (this.rowsById.get(row.rowId)?.page === page) this.rowsById.delete(row.rowId);
      }
    }
  }

  private notify(): void {
    if (this.notifyScheduled) return;
    this.notifyScheduled = true;
    this.schedule(() => {
      this.notifyScheduled = false;
      this.version += 1;
      for (const listener of this.listeners) listener();
    });
  }

  /** Pages held now (tests and the memory bound). */
  get pageCount(): number {
    return this.pages.size;
  }
}
