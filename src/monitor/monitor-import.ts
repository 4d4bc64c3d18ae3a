import { hash } from 'node:crypto';
import {
  closeSync,
  constants,
  type Dirent,
  fstatSync,
  lstatSync,
  openSync,
  readdirSync,
  type Stats,
} from 'node:fs';
import { lstat, open, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { PriceOverride } from '../llm/llm-price-store.ts';
import { uuidv7 } from '../platform/ids.ts';
import {
  type ClaudeCheckpoint,
  claudeFileInfo,
  parseClaudeTranscript,
} from './monitor-claude-parser.ts';
import { priceUsage } from './monitor-cost.ts';
import {
  type MessageInfo,
  OpenCodeDbError,
  openCodeJsonKind,
  parseOpenCodeDb,
  parseOpenCodeJson,
} from './monitor-opencode-parser.ts';
import { type FileRead, type FileReader, readInto, startFileReader } from './monitor-reader.ts';
import type { ParsedFile } from './monitor-records.ts';
import type { FileWrite, MonitorStore, SourceFileState } from './monitor-store.ts';

/**
 * Bulk import: find the source files under a path, skip the ones already imported unchanged
 * (size + mtime, then content hash), parse the rest and replace their rows in transactional
 * batches. Re-importing changes no total; a crash mid-batch rolls the batch back.
 */

/** Bumped when a parser counts differently: every file is read again on its next import. */
export const PARSER_VERSION = 1;
/** Larger files are refused (a transcript this big is not one). */
export const MONITOR_FILE_MAX_BYTES = 256 * 1024 * 1024;
const BATCH_FILES = 2_000;
/**
 * A legacy OpenCode JSON file is one object (a row or two): a batch of them is flushed per
 * this many files. A batch's fixed cost (the recount and the rollup's upkeep, a dozen
 * statements that each scan the project's events) is then paid per 25,000 files rather than
 * per 2,000: on 100,000 files that took a third of the import's CPU time.
 */
const JSON_BATCH_FILES = 25_000;
/** …or per this many bytes of them (a part can hold a long tool output): a batch's memory. */
const JSON_BATCH_BYTES = 64 * 1024 * 1024;
const BATCH_ROWS = 50_000;
/**
 * An import that wrote this many rows (messages, parts, usage) is a bulk one: its rows wait in
 * DuckDB's WAL for a checkpoint, which would otherwise fall on the next write — a live cycle,
 * 2–3 s late. A live cycle writes a few rows per grown file, far fewer.
 */
const BULK_IMPORT_ROWS = BATCH_ROWS;
const WALK_MAX_DEPTH = 12;
/**
 * Small files are opened, stat'ed and read with synchronous calls, this many between two
 * turns of the event loop (about a millisecond of blocking): a promise per system call costs
 * more than the call itself, and a tree of 100,000 small JSON files is bound by that cost.
 */
const SYNC_CHUNK = 64;
/** Larger files are read asynchronously, so the event loop never waits on a long read. */
const SYNC_READ_MAX_BYTES = 1024 * 1024;
/**
 * From this many OpenCode JSON files on, a worker thread reads them ahead (monitor-reader.ts);
 * fewer are read on the import's thread (a worker's start-up costs more than it saves there,
 * and a live cycle reads a handful).
 */
const READ_AHEAD_MIN_FILES = 2_000;
const RETRY_FIRST_MS = 30_000;
const RETRY_MAX_MS = 3_600_000;

/** How long a failed file waits after its `attempts`-th failure: 30 s, 1 min, 2 min, … 1 h. */
export function retryDelayMs(attempts: number): number {
  return Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * 2 ** Math.max(0, attempts - 1));
}

export type SourceOption = 'auto' | 'claude-code' | 'opencode';

type FileKind =
  | 'claude-transcript'
  | 'opencode-db'
  | 'opencode-session'
  | 'opencode-message'
  | 'opencode-part';

interface Found {
  path: string;
  kind: FileKind;
}

/** A file to import: where it is read from, and the path it is stored and reported under. */
interface Item extends Found {
  read: string;
}

type Fingerprint = { size: number; mtimeMs: number };
type Prepared =
  | { kind: 'vanished' }
  | { kind: 'unchanged'; print: Fingerprint }
  | { kind: 'deferred'; print: Fingerprint }
  | { kind: 'changed'; print: Fingerprint; content: Buffer | null }
  /** The bytes from `start` (a little before the checkpoint, to check them) to the end. */
  | { kind: 'tail'; print: Fingerprint; content: Buffer; start: number; resume: TailState }
  | { kind: 'unreadable'; print: Fingerprint; error: unknown };

export interface ImportCounts {
  files: number;
  records: number;
  badLines: number;
  sessions: number;
  usageEvents: number;
}

export interface ImportResult extends ImportCounts {
  /** Files found unchanged since their last import. */
  unchanged: number;
  /** Failed files not retried yet (live cycles back off; see failedBackoff). */
  deferred: number;
  failed: { path: string; error: string }[];
  refused: { path: string; reason: string }[];
  departed: number;
}

/** A result that counts nothing yet: an import adds to it file by file. */
export function emptyImportResult(): ImportResult {
  return {
    files: 0,
    records: 0,
    badLines: 0,
    sessions: 0,
    usageEvents: 0,
    unchanged: 0,
    deferred: 0,
    failed: [],
    refused: [],
    departed: 0,
  };
}

export interface ImportProgress {
  done: number;
  total: number;
}

const KIND_ORDER: Record<FileKind, number> = {
  'claude-transcript': 0,
  'opencode-db': 0,
  'opencode-session': 1,
  'opencode-message': 2,
  'opencode-part': 3,
};

function classify(filePath: string, relative: string, source: SourceOption): FileKind | null {
  const name = path.basename(filePath);
  const claude = source !== 'opencode';
  const opencode = source !== 'claude-code';
  if (claude && name.endsWith('.jsonl')) return 'claude-transcript';
  if (opencode && /^opencode(-[A-Za-z0-9_.-]+)?\.db$/.test(name)) return 'opencode-db';
  if (opencode && name.endsWith('.json')) {
    const kind = openCodeJsonKind(relative);
    if (kind) return `opencode-${kind}`;
  }
  return null;
}

/** Files to import under `root` (a folder or one file). Symbolic links inside are not followed. */
export async function discover(
  root: string,
  source: SourceOption,
): Promise<{ found: Found[]; refused: { path: string; reason: string }[] }> {
  const found: Found[] = [];
  const refused: { path: string; reason: string }[] = [];
  const info = await stat(root);
  if (info.isFile()) {
    // A single file: where it sits decides what it is (storage/part/<msg>/<id>.json).
    const kind = classify(root, root, source);
    if (kind) found.push({ path: root, kind });
    else
      refused.push({
        path: root,
        reason: 'not a Claude Code transcript (.jsonl) or OpenCode database or JSON file',
      });
    return { found, refused };
  }
  // Breadth-first with synchronous readdir, yielding to the event loop between chunks (see
  // SYNC_CHUNK): a tree of OpenCode JSON holds a folder per message.
  const top = path.resolve(root);
  const prefix = top.endsWith(path.sep) ? top : top + path.sep;
  let level: string[] = [top];
  for (let depth = 0; depth <= WALK_MAX_DEPTH && level.length > 0; depth++) {
    const next: string[] = [];
    for (let index = 0; index < level.length; index++) {
      if (index > 0 && index % SYNC_CHUNK === 0) await turn();
      const dir = level[index]!;
      let entries: Dirent[];
      try {
        entries = readdirSync(dir, { withFileTypes: true });
      } catch (error) {
        if (dir === top) throw error;
        continue; // removed while we walked
      }
      for (const entry of entries) {
        if (entry.isSymbolicLink()) continue;
        // `dir` is normalized and entry names hold no separator: a concatenation is what
        // path.join would give, without its normalizing pass (100,000 files: ~0.3 s).
        const full = dir.endsWith(path.sep) ? dir + entry.name : dir + path.sep + entry.name;
        if (entry.isDirectory()) next.push(full);
        else if (entry.isFile()) {
          const kind = classify(full, full.slice(prefix.length), source);
          if (kind) found.push({ path: full, kind });
        }
      }
    }
    level = next;
  }
  // Code-unit order (not localeCompare, ten times slower on 100,000 paths): any fixed order
  // does, as long as sessions come before their messages and messages before their parts.
  found.sort(
    (a, b) =>
      KIND_ORDER[a.kind] - KIND_ORDER[b.kind] || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0),
  );
  return { found, refused };
}

/**
 * Live tailing of Claude Code transcripts (append-only JSONL): the parse's checkpoint, the
 * hash of the HEAD_CHECK_BYTES before it and the file's inode are kept with the file's state.
 * A file that grew with those bytes unchanged and the same inode is read from the checkpoint
 * on; a shorter file (truncated), another inode (rotated, replaced) or other bytes there
 * (rewritten) is read whole again. An edit earlier in the file than those bytes, keeping its
 * size, is not seen: transcripts are only appended to.
 */
const HEAD_CHECK_BYTES = 4096;

export interface TailState {
  checkpoint: ClaudeCheckpoint;
  headHash: string;
  ino: number;
}

function tailStateOf(state: SourceFileState | undefined): TailState | undefined {
  if (!state?.parserState) return undefined;
  try {
    const value = JSON.parse(state.parserState) as TailState;
    return value?.checkpoint?.version === 1 && typeof value.headHash === 'string'
      ? value
      : undefined;
  } catch {
    return undefined;
  }
}

/** sha256 of the HEAD_CHECK_BYTES before `offset`, from bytes that start at `start`. */
function headHash(content: Buffer, start: number, offset: number): string {
  const from = Math.max(0, offset - HEAD_CHECK_BYTES) - start;
  // One call (no Hash object per file): a live cycle hashes twice per grown transcript.
  return hash('sha256', content.subarray(Math.max(0, from), offset - start), 'hex');
}

/** Where a tail's read starts: HEAD_CHECK_BYTES before the checkpoint, to check those bytes. */
const tailStart = (resume: TailState) =>
  Math.max(0, resume.checkpoint.byteOffset - HEAD_CHECK_BYTES);

/** The tail read from `start`, when the bytes before the checkpoint are still those hashed. */
function checkedTail(
  resume: TailState,
  print: Fingerprint,
  content: Buffer,
  start: number,
): Prepared | undefined {
  const offset = resume.checkpoint.byteOffset;
  return content.length >= offset - start && headHash(content, start, offset) === resume.headHash
    ? { kind: 'tail', print, content, start, resume }
    : undefined;
}

/** Bytes [start, end) of a file (a transcript's tail). */
async function readRange(file: string, start: number, end: number): Promise<Buffer> {
  const handle = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    const content = Buffer.allocUnsafe(end - start);
    let filled = 0;
    while (filled < content.length) {
      const { bytesRead } = await handle.read(
        content,
        filled,
        content.length - filled,
        start + filled,
      );
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    return filled === content.length ? content : content.subarray(0, filled);
  } finally {
    await handle.close();
  }
}

const isOpenCodeJson = (kind: FileKind) =>
  kind === 'opencode-session' || kind === 'opencode-message' || kind === 'opencode-part';

/** The name of a file's folder (`part/<message>/<id>.json` → `<message>`). */
function parentName(filePath: string): string {
  const end = filePath.lastIndexOf(path.sep);
  return filePath.slice(filePath.lastIndexOf(path.sep, end - 1) + 1, end);
}

/** One turn of the event loop: timers, I/O and requests run before the next chunk. */
function turn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

const printOf = (info: Stats): Fingerprint & { ino: number } => ({
  size: info.size,
  mtimeMs: Math.floor(info.mtimeMs),
  ino: info.ino,
});

/** Bytes [start, end) through one open descriptor (the end read once, by fstat). */
function readRangeSync(fd: number, start: number, end: number): Buffer {
  const content = Buffer.allocUnsafe(end - start);
  const filled = readInto(fd, content, 0, content.length, start);
  return filled === content.length ? content : content.subarray(0, filled);
}

async function fingerprint(found: Item): Promise<Fingerprint & { ino?: number }> {
  const info = await lstat(found.read);
  if (found.kind !== 'opencode-db') return printOf(info);
  // In WAL mode new rows sit in the -wal file until a checkpoint: it is part of the database.
  const wal = await lstat(`${found.read}-wal`).catch(() => undefined);
  return {
    size: info.size + (wal?.size ?? 0),
    mtimeMs: Math.floor(Math.max(info.mtimeMs, wal?.mtimeMs ?? 0)),
  };
}

function looksBinary(content: Buffer): boolean {
  return content.subarray(0, 8_192).includes(0);
}

async function agentTypeFromMeta(transcript: string): Promise<string | null> {
  try {
    const meta = JSON.parse(await readFile(transcript.replace(/\.jsonl$/, '.meta.json'), 'utf8'));
    return typeof meta?.agentType === 'string' ? meta.agentType : null;
  } catch {
    return null;
  }
}

export async function importTree(options: {
  store: MonitorStore;
  projectId: string;
  root: string;
  source: SourceOption;
  onProgress?: ((progress: ImportProgress) => void) | undefined;
  /** The path a file is stored and reported under (default: its own). */
  storedPath?: ((absolute: string) => string) | undefined;
  /**
   * Live cycles: a file that failed and has not changed since waits before it is tried again
   * (30 s, doubling per attempt, at most an hour). An import someone asks for retries at once.
   */
  failedBackoff?: { now: () => number } | undefined;
  /** The project's price overrides (the LLM module's): they win over the catalog. */
  priceOverrides?: readonly PriceOverride[] | undefined;
  /** The rows from which an import is a bulk one (see BULK_IMPORT_ROWS); tests lower it. */
  bulkImportRows?: number | undefined;
  /** OpenCode JSON files and bytes per written batch (see JSON_BATCH_FILES); tests lower them. */
  jsonBatch?: { files?: number; bytes?: number } | undefined;
  /** The OpenCode JSON files from which a worker reads ahead (READ_AHEAD_MIN_FILES). */
  readAheadMinFiles?: number | undefined;
}): Promise<ImportResult> {
  const { store, projectId, source } = options;
  const root = path.resolve(options.root);
  const stored = options.storedPath ?? ((absolute: string) => absolute);
  const discovered = await discover(root, source);
  // From here on a file's path is the one it is stored under.
  const found: Item[] = discovered.found.map((item) => ({
    ...item,
    read: item.path,
    path: stored(item.path),
  }));
  const refused = discovered.refused.map((item) => ({ ...item, path: stored(item.path) }));
  const states = await store.fileStates(projectId);
  const result: ImportResult = { ...emptyImportResult(), refused };
  const messages = new Map<string, MessageInfo>();
  // An OpenCode message's own tokens are not an event when it has step-finish parts: they
  // are stored (the report decides) but not counted as events of this import.
  const fallbacks = new Set<string>();
  const stepped = new Set<string>();
  const jsonBatchFiles = options.jsonBatch?.files ?? JSON_BATCH_FILES;
  const jsonBatchBytes = options.jsonBatch?.bytes ?? JSON_BATCH_BYTES;
  let batch: FileWrite[] = [];
  let batchRows = 0;
  /** Files of the batch other than OpenCode JSON (see JSON_BATCH_FILES). */
  let batchHeavy = 0;
  let batchJsonBytes = 0;
  let rowsWritten = 0;
  let loadedStoredMessages = false;

  // A batch is written while the next one is read and parsed (one write at a time, in order:
  // each waits for the one before). A failed write fails the import at the next wait.
  let writing: Promise<void> = Promise.resolve();
  const flush = async () => {
    const writes = batch;
    batch = [];
    batchRows = 0;
    batchHeavy = 0;
    batchJsonBytes = 0;
    await writing;
    if (writes.length === 0) return;
    writing = store.replaceFiles(projectId, writes);
    writing.catch(() => {}); // awaited by the next flush or settle
  };
  /** Every batch so far written. */
  const settle = async () => {
    await flush();
    await writing;
  };

  const stateFor = (found: Found, size: number, mtimeMs: number): SourceFileState => {
    const previous = states.get(found.path);
    return {
      fileId: previous?.fileId ?? uuidv7(),
      source: found.kind === 'claude-transcript' ? 'claude-code' : 'opencode',
      kind: found.kind,
      path: found.path,
      size,
      mtimeMs,
      byteOffset: 0,
      contentHash: null,
      status: 'imported',
      error: null,
      attempts: 0,
      parserVersion: PARSER_VERSION,
      records: 0,
      badLines: 0,
    };
  };

  /** A file refused with a reason: listed; recorded as refused unless it was imported before. */
  const refuse = (
    state: SourceFileState,
    previous: SourceFileState | undefined,
    reason: string,
  ) => {
    refused.push({ path: state.path, reason });
    if (!previous)
      batch.push({
        state: { ...state, status: 'refused', error: reason },
        parsed: null,
        prices: [],
        isNew: true,
      });
  };

  const lookup = (messageId: string) => messages.get(messageId);

  const isUnchanged = (previous: SourceFileState | undefined, print: Fingerprint) =>
    previous?.status === 'imported' &&
    previous.parserVersion === PARSER_VERSION &&
    previous.size === print.size &&
    previous.mtimeMs === print.mtimeMs;

  const isDeferred = (previous: SourceFileState | undefined, print: Fingerprint) =>
    options.failedBackoff !== undefined &&
    previous?.status === 'failed' &&
    previous.size === print.size &&
    previous.mtimeMs === print.mtimeMs &&
    options.failedBackoff.now() < (previous.indexedAtMs ?? 0) + retryDelayMs(previous.attempts);

  /**
   * A JSONL or JSON file with synchronous calls: a file seen before is lstat'ed first (most
   * are unchanged); a new one is opened at once (never through a symbolic link) and its size
   * read from the open descriptor; a grown transcript that can be tailed has only its new
   * bytes read (live cycles touch many such files: one promise per file would cost more than
   * the read). Returns undefined for a file to read asynchronously (large ones).
   */
  const prepareSync = (item: Item): Prepared | undefined => {
    const previous = states.get(item.path);
    if (previous) {
      let print: Fingerprint;
      try {
        print = printOf(lstatSync(item.read));
      } catch {
        return { kind: 'vanished' };
      }
      if (isUnchanged(previous, print)) return { kind: 'unchanged', print };
      if (isDeferred(previous, print)) return { kind: 'deferred', print };
    }
    let fd: number;
    try {
      fd = openSync(item.read, constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'vanished' };
      return undefined; // the asynchronous path reports it
    }
    try {
      const info = fstatSync(fd);
      if (!info.isFile()) return undefined;
      const print = printOf(info);
      if (isUnchanged(previous, print)) return { kind: 'unchanged', print };
      if (isDeferred(previous, print)) return { kind: 'deferred', print };
      // A grown transcript: its new bytes (and the few before them, to check) only.
      const resume = tailable(item, previous, print);
      if (resume) {
        const start = tailStart(resume);
        if (print.size - start > SYNC_READ_MAX_BYTES) return undefined;
        const tail = checkedTail(resume, print, readRangeSync(fd, start, print.size), start);
        if (tail) return tail;
      }
      if (info.size > SYNC_READ_MAX_BYTES) return undefined;
      try {
        return { kind: 'changed', print, content: readRangeSync(fd, 0, info.size) };
      } catch (error) {
        return { kind: 'unreadable', print, error };
      }
    } catch {
      return undefined;
    } finally {
      closeSync(fd);
    }
  };

  /** A grown transcript whose checkpoint can be resumed (see HEAD_CHECK_BYTES). */
  const tailable = (
    item: Item,
    previous: SourceFileState | undefined,
    print: Fingerprint & { ino?: number },
  ): TailState | undefined => {
    if (item.kind !== 'claude-transcript' || previous?.status !== 'imported') return undefined;
    if (previous.parserVersion !== PARSER_VERSION) return undefined;
    const tail = tailStateOf(previous);
    if (!tail || print.size < tail.checkpoint.byteOffset) return undefined;
    if (print.ino !== undefined && print.ino !== tail.ino) return undefined;
    if (print.size - tail.checkpoint.byteOffset > MONITOR_FILE_MAX_BYTES) return undefined;
    return tail;
  };

  const prepare = async (item: Item): Promise<Prepared> => {
    let print: Fingerprint & { ino?: number };
    try {
      print = await fingerprint(item);
    } catch {
      return { kind: 'vanished' };
    }
    const previous = states.get(item.path);
    if (isUnchanged(previous, print)) return { kind: 'unchanged', print };
    if (isDeferred(previous, print)) return { kind: 'deferred', print };
    const resume = tailable(item, previous, print);
    if (resume) {
      const start = tailStart(resume);
      try {
        const tail = checkedTail(
          resume,
          print,
          await readRange(item.read, start, print.size),
          start,
        );
        if (tail) return tail;
      } catch {
        // Read whole below, which reports the failure.
      }
    }
    if (item.kind === 'opencode-db' || print.size > MONITOR_FILE_MAX_BYTES) {
      return { kind: 'changed', print, content: null };
    }
    try {
      return { kind: 'changed', print, content: await readFile(item.read) };
    } catch (error) {
      return { kind: 'unreadable', print, error };
    }
  };
  const prepareAny = async (item: Item): Promise<Prepared> =>
    (item.kind !== 'opencode-db' ? prepareSync(item) : undefined) ?? (await prepare(item));

  // OpenCode JSON files are read ahead by a worker when there are many (READ_AHEAD_MIN_FILES);
  // readerIndex[i] is found[i]'s place in its list, -1 for a file read here.
  const readerIndex = new Int32Array(found.length).fill(-1);
  const toRead: { path: string; known?: Fingerprint | undefined }[] = [];
  for (let index = 0; index < found.length; index++) {
    const item = found[index]!;
    if (!isOpenCodeJson(item.kind)) continue;
    readerIndex[index] = toRead.length;
    const previous = states.get(item.path);
    // A file that may be unchanged or deferred is only lstat'ed (as prepareSync does).
    const skippable =
      previous &&
      ((previous.status === 'imported' && previous.parserVersion === PARSER_VERSION) ||
        (previous.status === 'failed' && options.failedBackoff !== undefined));
    toRead.push({
      path: item.read,
      known: skippable ? { size: previous.size, mtimeMs: previous.mtimeMs } : undefined,
    });
  }
  let reader: FileReader | undefined;
  if (toRead.length > 0 && toRead.length >= (options.readAheadMinFiles ?? READ_AHEAD_MIN_FILES)) {
    try {
      reader = startFileReader(toRead, SYNC_READ_MAX_BYTES);
    } catch {
      // No worker (none could start): the files are read here, as fewer files are.
    }
  }
  /** A file the worker read, as prepareSync would have; undefined: read it here. */
  const preparedFrom = (item: Item, read: FileRead): Prepared | undefined => {
    if (read.kind === 'vanished') return { kind: 'vanished' };
    if (read.kind === 'fallback') return undefined;
    const previous = states.get(item.path);
    if (isUnchanged(previous, read.print)) return { kind: 'unchanged', print: read.print };
    if (isDeferred(previous, read.print)) return { kind: 'deferred', print: read.print };
    return read.kind === 'read'
      ? { kind: 'changed', print: read.print, content: read.content }
      : undefined; // its fingerprint only, and it must be read after all (a backoff ended)
  };
  try {
    for (let index = 0; index < found.length; index++) {
      const item = found[index]!;
      options.onProgress?.({ done: index, total: found.length });
      if (item.kind === 'opencode-part' && !loadedStoredMessages) {
        // Parts are priced by their message's model: the messages imported before this run
        // (and in earlier batches of it) are read back from the store.
        loadedStoredMessages = true;
        await settle();
        const wanted = [
          ...new Set(
            found.filter((f) => f.kind === 'opencode-part').map((f) => parentName(f.path)),
          ),
        ].filter((id) => !messages.has(id));
        for (const [id, stored] of await store.openCodeMessages(projectId, wanted)) {
          messages.set(id, {
            sessionId: stored.sessionKey.slice(3),
            model: stored.model,
            provider: stored.provider,
            at: stored.at,
          });
        }
      }
      if (index > 0 && index % SYNC_CHUNK === 0) await turn();
      let read = reader && readerIndex[index]! >= 0 ? reader.take(readerIndex[index]!) : undefined;
      if (read instanceof Promise) read = await read;
      const ready = (read && preparedFrom(item, read)) ?? (await prepareAny(item));
      const previous = states.get(item.path);
      if (ready.kind === 'vanished') continue; // the next import sees it departed
      if (ready.kind === 'unchanged') {
        result.unchanged++;
        continue;
      }
      if (ready.kind === 'deferred') {
        result.deferred++;
        continue;
      }
      const print = ready.print;
      const state = stateFor(item, print.size, print.mtimeMs);
      if (print.size > MONITOR_FILE_MAX_BYTES) {
        refuse(state, previous, `larger than ${MONITOR_FILE_MAX_BYTES} bytes`);
        continue;
      }
      let parsed: ParsedFile;
      let tailFromLine: number | undefined;
      let resumedRecords = 0;
      let staleFrom: number | undefined;
      try {
        if (ready.kind === 'tail') {
          const { content, start, resume } = ready;
          const tail = content.subarray(resume.checkpoint.byteOffset - start);
          if (looksBinary(tail)) throw new Error('binary content appended');
          const info = claudeFileInfo(item.path);
          const transcript = parseClaudeTranscript(
            tail.toString('utf8'),
            {
              ...info,
              agentTypeFromMeta: info.agentId ? await agentTypeFromMeta(item.read) : null,
            },
            resume.checkpoint,
          );
          parsed = transcript;
          tailFromLine = resume.checkpoint.lines + 1;
          resumedRecords = resume.checkpoint.records;
          staleFrom = resume.checkpoint.badLines;
          state.contentHash = null; // the head was not read: only its last bytes were checked
          state.parserState = JSON.stringify({
            checkpoint: transcript.checkpoint,
            headHash: headHash(content, start, transcript.checkpoint.byteOffset),
            ino: resume.ino,
          } satisfies TailState);
          state.byteOffset = transcript.checkpoint.byteOffset;
          // The earlier bad lines stay, but for the partial last line read again here.
          state.badLines = resume.checkpoint.badLines + parsed.badLines.length;
        } else if (item.kind === 'opencode-db') {
          parsed = parseOpenCodeDb(item.read);
        } else {
          if (ready.kind === 'unreadable') throw ready.error;
          const content = ready.content!;
          if (looksBinary(content)) {
            refuse(state, previous, 'binary content (a NUL byte)');
            continue;
          }
          state.contentHash = hash('sha256', content, 'hex');
          if (
            previous?.status === 'imported' &&
            previous.parserVersion === PARSER_VERSION &&
            previous.contentHash === state.contentHash
          ) {
            // Touched, not changed: keep its rows.
            await writing;
            await store.updateFileState(projectId, { ...previous, mtimeMs: print.mtimeMs });
            result.unchanged++;
            continue;
          }
          const textContent = content.toString('utf8');
          if (item.kind === 'claude-transcript') {
            const info = claudeFileInfo(item.path);
            const transcript = parseClaudeTranscript(textContent, {
              ...info,
              agentTypeFromMeta: info.agentId ? await agentTypeFromMeta(item.read) : null,
            });
            parsed = transcript;
            // A main transcript whose lines never named its session cannot be resumed: a later
            // line naming one re-keys the whole file.
            if (transcript.checkpoint.sessionId !== null || info.agentId !== null) {
              const ino = 'ino' in print && typeof print.ino === 'number' ? print.ino : undefined;
              if (ino !== undefined) {
                state.parserState = JSON.stringify({
                  checkpoint: transcript.checkpoint,
                  headHash: headHash(content, 0, transcript.checkpoint.byteOffset),
                  ino,
                } satisfies TailState);
              }
            }
          } else {
            const kind =
              item.kind === 'opencode-session'
                ? 'session'
                : item.kind === 'opencode-message'
                  ? 'message'
                  : 'part';
            parsed = parseOpenCodeJson(textContent, kind, lookup);
          }
        }
      } catch (error) {
        const message =
          error instanceof OpenCodeDbError ? error.message : 'the file could not be read';
        result.failed.push({ path: item.path, error: message });
        const failed: SourceFileState = {
          ...(previous ?? state),
          size: print.size,
          mtimeMs: print.mtimeMs,
          status: 'failed',
          error: message,
          attempts: (previous?.attempts ?? 0) + 1,
        };
        // A file that fails keeps the rows of its last good import.
        if (previous) {
          await writing;
          await store.updateFileState(projectId, failed);
        } else batch.push({ state: failed, parsed: null, prices: [], isNew: true });
        continue;
      }
      for (const message of parsed.messages) {
        if (message.sessionKey.startsWith('oc:')) {
          const time = (message.raw as { time?: { completed?: unknown } } | null)?.time;
          messages.set(message.messageId, {
            sessionId: message.sessionKey.slice(3),
            model: message.model,
            provider: message.provider,
            at: typeof time?.completed === 'number' ? new Date(time.completed) : message.createdAt,
          });
        }
      }
      for (const event of parsed.usage) {
        if (event.source !== 'opencode' || event.messageId === null) continue;
        (event.fallbackFor === null ? stepped : fallbacks).add(event.messageId);
      }
      state.records = parsed.records;
      if (tailFromLine === undefined) {
        state.byteOffset = parsed.byteOffset || print.size;
        state.badLines = parsed.badLines.length;
      }
      batch.push({
        state,
        parsed,
        prices: parsed.usage.map((event) => priceUsage(event, options.priceOverrides)),
        isNew: !previous,
        ...(tailFromLine === undefined
          ? {}
          : {
              tailFromLine,
              // Bad lines past the checkpoint are the only ones a tail replaces (see FileWrite).
              staleBadLines: (previous?.badLines ?? 0) > (staleFrom ?? 0),
            }),
      });
      result.files++;
      // A tail counts what it added: its records, bad lines and usage rows; no new session.
      result.records += parsed.records - resumedRecords;
      result.badLines += parsed.badLines.length;
      if (tailFromLine === undefined) result.sessions += parsed.sessions.length;
      result.usageEvents += parsed.usage.length;
      const rows = parsed.messages.length + parsed.parts.length + parsed.usage.length;
      batchRows += rows;
      rowsWritten += rows;
      if (isOpenCodeJson(item.kind)) batchJsonBytes += print.size;
      else batchHeavy++;
      if (
        batchHeavy >= BATCH_FILES ||
        batch.length >= jsonBatchFiles ||
        batchJsonBytes >= jsonBatchBytes ||
        batchRows >= BATCH_ROWS
      )
        await flush();
    }
  } finally {
    await reader?.close();
  }
  await settle();
  for (const messageId of fallbacks) if (stepped.has(messageId)) result.usageEvents--;

  // Files imported before under this root and gone now keep their rows, marked departed.
  const seen = new Set(found.map((item) => item.path));
  const storedRoot = stored(root);
  const prefix = storedRoot.endsWith('/') ? storedRoot : `${storedRoot}/`;
  for (const state of states.values()) {
    if (state.status === 'departed' || seen.has(state.path)) continue;
    if (state.path !== storedRoot && !state.path.startsWith(prefix)) continue;
    await store.updateFileState(projectId, { ...state, status: 'departed' });
    result.departed++;
  }
  // The checkpoint runs in the background, before the next cycle's write rather than in it.
  if (rowsWritten >= (options.bulkImportRows ?? BULK_IMPORT_ROWS)) store.checkpointSoon();
  options.onProgress?.({ done: found.length, total: found.length });
  return result;
}
