import {
  closeSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeSync,
} from 'node:fs';
import path from 'node:path';
import { uuidv7 } from '../platform/ids.ts';
import type { UsageRow } from './llm-usage-store.ts';

/**
 * The usage outbox: usage rows appended to a file in the data dir before a call answers, and
 * committed to the database afterwards in batches (docs/llm.md, "Usage rows and crashes").
 *
 * Rows go to the current segment (`<uuidv7>.jsonl`, one JSON row a line) with one `write(2)`
 * each; once `append` returns, the row is in the kernel's page cache and survives the process
 * being killed — the same durability as PGlite's own files beside it, which are written with
 * `pwrite(2)` and never fsynced. `seal()` starts a new segment; a sealed segment is deleted by
 * `release()` once every row in it is committed. A segment left by a process that died is
 * replayed on the next start (`readOutbox`), skipping rows the database already has.
 *
 * Only for an embedded data dir: the process holding the data-dir lock is its only writer.
 * Servers sharing a PostgreSQL have no outbox (a stateless node's disk may not come back).
 */
export class UsageOutbox {
  readonly #dir: string;
  #fd: number | undefined;
  #segment: string | undefined;

  constructor(dir: string) {
    this.#dir = dir;
    mkdirSync(dir, { recursive: true });
  }

  /** The segments present now, oldest first (names are UUIDv7: they sort by time). */
  segments(): string[] {
    return readdirSync(this.#dir)
      .filter((name) => name.endsWith('.jsonl'))
      .sort()
      .map((name) => path.join(this.#dir, name));
  }

  /** Appends a row; returns its segment. Durable against a crash of this process on return. */
  append(row: UsageRow): string {
    if (this.#fd === undefined || this.#segment === undefined) {
      this.#segment = path.join(this.#dir, `${uuidv7()}.jsonl`);
      this.#fd = openSync(this.#segment, 'a', 0o600);
    }
    writeSync(this.#fd, `${JSON.stringify(row)}\n`);
    return this.#segment;
  }

  /** Ends the current segment (returned, if rows went to it): later rows go to a new one. */
  seal(): string | undefined {
    const segment = this.#segment;
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
    this.#segment = undefined;
    return segment;
  }

  /** Deletes a sealed segment whose rows are all committed. */
  release(segment: string): void {
    if (segment === this.#segment) return;
    rmSync(segment, { force: true });
  }

  close(): void {
    this.seal();
  }
}

/**
 * The rows of a segment. A line cut short (the machine, not only the process, went down in
 * the middle of a write) is skipped and counted.
 */
export function readSegment(file: string): { rows: UsageRow[]; unreadable: number } {
  const rows: UsageRow[] = [];
  let unreadable = 0;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (line === '') continue;
    try {
      rows.push(reviveRow(JSON.parse(line) as Record<string, unknown>));
    } catch {
      unreadable++;
    }
  }
  return { rows, unreadable };
}

/** A row as JSON gave it back: the date is a Date again, absent fields undefined. */
function reviveRow(value: Record<string, unknown>): UsageRow {
  const row = value as unknown as UsageRow;
  const createdAt = new Date(value.createdAt as string);
  if (typeof row.id !== 'string' || Number.isNaN(createdAt.getTime()))
    throw new Error('not a usage row');
  return { ...row, createdAt };
}
