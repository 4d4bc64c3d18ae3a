import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open } from 'node:fs/promises';
import path from 'node:path';
import { createGunzip, inflateRawSync } from 'node:zlib';
import { AppError, validationError } from '../platform/app-error.ts';

/**
 * Archives of log folders (a zipped or tarred `~/.claude/projects`, an OpenCode `storage/`):
 * their entries are unpacked into the upload's folder and imported like uploaded files. An
 * archive is user data in a format built to surprise: every entry name goes through the same
 * check as an uploaded file's name (`checkName`: no `..`, no absolute path, nothing outside the
 * folder); only regular files are unpacked — a symbolic or hard link, a device or anything else
 * refuses the whole upload (400 naming the archive and the entry); and the bytes unpacked are
 * counted as they come out of the decompressor, so a zip or gzip bomb stops at the limit
 * (413) without ever being inflated further. Formats: `.zip` (stored or deflated; no zip64, no
 * encryption), `.tar`, `.tar.gz` / `.tgz` (ustar, GNU long names, pax `path`).
 */

export interface ArchiveLimits {
  /** Largest unpacked entry. */
  maxEntryBytes: number;
  /** All unpacked bytes of the upload together. */
  maxTotalBytes: number;
  maxEntries: number;
}

export type ArchiveKind = 'zip' | 'tar' | 'tar.gz';

export function archiveKind(name: string): ArchiveKind | null {
  const lower = name.toLowerCase();
  if (lower.endsWith('.zip')) return 'zip';
  if (lower.endsWith('.tar.gz') || lower.endsWith('.tgz')) return 'tar.gz';
  if (lower.endsWith('.tar')) return 'tar';
  return null;
}

/** What unpacking shares across the archives of one upload. */
export interface UnpackState {
  entries: number;
  bytes: number;
  /** Relative paths written so far (uploaded files and entries): a second one is refused. */
  seen: Set<string>;
}

interface UnpackContext {
  archive: string;
  field: string;
  folder: string;
  limits: ArchiveLimits;
  state: UnpackState;
  /** The upload's name check (monitor-uploads.ts), throwing a 400 naming `field`. */
  checkName: (name: string) => string;
}

function refuse(context: UnpackContext, reason: string): AppError {
  return validationError(`${context.archive}: ${reason}`, [
    { path: context.field, message: reason },
  ]);
}

function tooLarge(context: UnpackContext, what: string): AppError {
  return new AppError('PAYLOAD_TOO_LARGE', `${context.archive}: ${what}`);
}

/** The checked target of an entry, or null for a folder entry. */
function targetOf(context: UnpackContext, rawName: string): string | null {
  let name = rawName;
  while (name.startsWith('./')) name = name.slice(2);
  if (name === '' || name.endsWith('/')) return null;
  const relative = context.checkName(name);
  if (context.state.seen.has(relative)) throw refuse(context, `${relative} appears twice`);
  context.state.seen.add(relative);
  const target = path.join(context.folder, relative);
  if (!target.startsWith(`${context.folder}${path.sep}`)) throw refuse(context, 'bad entry name');
  return target;
}

function countEntry(context: UnpackContext, declaredBytes: number) {
  context.state.entries++;
  if (context.state.entries > context.limits.maxEntries) {
    throw tooLarge(context, `more than ${context.limits.maxEntries} files`);
  }
  if (declaredBytes > context.limits.maxEntryBytes) {
    throw tooLarge(context, `an entry is larger than ${context.limits.maxEntryBytes} bytes`);
  }
}

function countBytes(context: UnpackContext, bytes: number, entryBytes: number) {
  context.state.bytes += bytes;
  if (entryBytes > context.limits.maxEntryBytes) {
    throw tooLarge(context, `an entry is larger than ${context.limits.maxEntryBytes} bytes`);
  }
  if (context.state.bytes > context.limits.maxTotalBytes) {
    throw tooLarge(context, `more than ${context.limits.maxTotalBytes} bytes unpacked`);
  }
}

/** Unpacks `file` (an uploaded archive) into `folder`. */
export async function unpackArchive(
  file: string,
  kind: ArchiveKind,
  context: UnpackContext,
): Promise<void> {
  if (kind === 'zip') await unpackZip(file, context);
  else await unpackTar(file, kind === 'tar.gz', context);
}

// ——— tar ———

const BLOCK = 512;

function field(header: Buffer, start: number, length: number): string {
  const raw = header.subarray(start, start + length);
  const end = raw.indexOf(0);
  return raw.subarray(0, end === -1 ? length : end).toString('utf8');
}

function octal(header: Buffer, start: number, length: number): number {
  // GNU base-256 for sizes ≥ 8 GiB: larger than any entry we accept anyway.
  if ((header[start]! & 0x80) !== 0) return Number.MAX_SAFE_INTEGER;
  const text = field(header, start, length).trim();
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) return Number.NaN;
  return Number.parseInt(text, 8);
}

/** pax extended header records: `<len> <key>=<value>\n`. */
function paxPath(data: Buffer): string | undefined {
  let offset = 0;
  while (offset < data.length) {
    const space = data.indexOf(0x20, offset);
    if (space === -1) break;
    const length = Number(data.subarray(offset, space).toString('ascii'));
    if (!Number.isSafeInteger(length) || length <= 0) break;
    const record = data.subarray(space + 1, offset + length - 1).toString('utf8');
    const equals = record.indexOf('=');
    if (equals !== -1 && record.slice(0, equals) === 'path') return record.slice(equals + 1);
    offset += length;
  }
  return undefined;
}

async function unpackTar(file: string, gzipped: boolean, context: UnpackContext): Promise<void> {
  const input = createReadStream(file);
  const stream = gzipped ? input.pipe(createGunzip()) : input;
  // A gzip error (not gzip, truncated) ends the stream with an error: a 400, not a 500.
  let buffered: Buffer = Buffer.alloc(0);
  let longName: string | undefined;
  let entry:
    | {
        remaining: number;
        padding: number;
        out: ReturnType<typeof createWriteStream> | null;
        meta: Buffer[] | null;
        type: string;
        written: number;
      }
    | undefined;
  let ended = false;
  const finishEntry = async () => {
    if (!entry) return;
    if (entry.out) {
      const out = entry.out;
      await new Promise<void>((resolve, reject) =>
        out.end((error?: Error | null) => (error ? reject(error) : resolve())),
      );
    }
    if (entry.meta) {
      const data = Buffer.concat(entry.meta);
      if (entry.type === 'L') longName = field(data, 0, data.length);
      else longName = paxPath(data) ?? longName;
    }
    entry = undefined;
  };
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      let offset = 0;
      while (!ended) {
        if (entry) {
          if (entry.remaining > 0) {
            const take = Math.min(entry.remaining, buffered.length - offset);
            if (take === 0) break;
            const piece = buffered.subarray(offset, offset + take);
            if (entry.out) {
              entry.written += take;
              countBytes(context, take, entry.written);
              // `once` rejects on 'error', so a failing disk never leaves us waiting.
              if (!entry.out.write(piece)) await once(entry.out, 'drain');
            } else if (entry.meta) {
              entry.meta.push(Buffer.from(piece));
            }
            entry.remaining -= take;
            offset += take;
            continue;
          }
          if (buffered.length - offset < entry.padding) break;
          offset += entry.padding;
          await finishEntry();
          continue;
        }
        if (buffered.length - offset < BLOCK) break;
        const header = buffered.subarray(offset, offset + BLOCK);
        offset += BLOCK;
        if (header.every((byte) => byte === 0)) {
          ended = true; // the end-of-archive blocks
          break;
        }
        const size = octal(header, 124, 12);
        if (!Number.isFinite(size) || size < 0) throw refuse(context, 'not a tar archive');
        const type = String.fromCharCode(header[156]!) || '0';
        const padding = (BLOCK - (size % BLOCK)) % BLOCK;
        if (type === 'L' || type === 'x') {
          if (size > 64 * 1024) throw refuse(context, 'a header record is too long');
          entry = { remaining: size, padding, out: null, meta: [], type, written: 0 };
          continue;
        }
        if (type === 'g') {
          entry = { remaining: size, padding, out: null, meta: null, type, written: 0 };
          continue;
        }
        const prefix = field(header, 345, 155);
        const name =
          longName ?? (prefix ? `${prefix}/${field(header, 0, 100)}` : field(header, 0, 100));
        longName = undefined;
        if (type === '5') {
          entry = { remaining: size, padding, out: null, meta: null, type, written: 0 };
          continue;
        }
        if (type !== '0' && type !== '\0' && type !== '7') {
          const what =
            type === '2' ? 'a symbolic link' : type === '1' ? 'a hard link' : 'not a regular file';
          throw refuse(context, `entry ${JSON.stringify(name.slice(0, 200))} is ${what}`);
        }
        countEntry(context, size);
        const target = targetOf(context, name);
        let out: ReturnType<typeof createWriteStream> | null = null;
        if (target) {
          await mkdir(path.dirname(target), { recursive: true });
          out = createWriteStream(target, { flags: 'wx' });
          // A write error surfaces through end() below; a stream destroyed after a refusal
          // may still report its pending write, which nobody needs.
          out.on('error', () => {});
        }
        entry = { remaining: size, padding, out, meta: null, type, written: 0 };
        if (size === 0) continue;
      }
      buffered = buffered.subarray(offset);
    }
  } catch (error) {
    entry?.out?.destroy();
    input.destroy();
    if (error instanceof AppError) throw error;
    throw refuse(
      context,
      gzipped ? 'not a readable .tar.gz archive' : 'not a readable tar archive',
    );
  }
  if (entry && entry.remaining > 0) {
    entry.out?.destroy();
    throw refuse(context, 'the archive ends in the middle of a file');
  }
  await finishEntry();
}

// ——— zip ———

const EOCD = 0x06054b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;

async function unpackZip(file: string, context: UnpackContext): Promise<void> {
  const handle = await open(file, 'r');
  try {
    const { size } = await handle.stat();
    const tailLength = Math.min(size, 22 + 65_535);
    const tail = Buffer.alloc(tailLength);
    await handle.read(tail, 0, tailLength, size - tailLength);
    let eocd = -1;
    for (let at = tailLength - 22; at >= 0; at--) {
      if (tail.readUInt32LE(at) === EOCD) {
        eocd = at;
        break;
      }
    }
    if (eocd === -1) throw refuse(context, 'not a zip archive');
    const count = tail.readUInt16LE(eocd + 10);
    const directorySize = tail.readUInt32LE(eocd + 12);
    const directoryOffset = tail.readUInt32LE(eocd + 16);
    if (count === 0xffff || directoryOffset === 0xffffffff) {
      throw refuse(context, 'zip64 archives are not supported');
    }
    if (directoryOffset + directorySize > size) throw refuse(context, 'a damaged zip archive');
    const directory = Buffer.alloc(directorySize);
    await handle.read(directory, 0, directorySize, directoryOffset);
    let at = 0;
    for (let index = 0; index < count; index++) {
      if (at + 46 > directory.length || directory.readUInt32LE(at) !== CENTRAL) {
        throw refuse(context, 'a damaged zip archive');
      }
      const flags = directory.readUInt16LE(at + 8);
      const method = directory.readUInt16LE(at + 10);
      const compressedSize = directory.readUInt32LE(at + 20);
      const declaredSize = directory.readUInt32LE(at + 24);
      const nameLength = directory.readUInt16LE(at + 28);
      const extraLength = directory.readUInt16LE(at + 30);
      const commentLength = directory.readUInt16LE(at + 32);
      const madeBy = directory.readUInt16LE(at + 4) >> 8;
      const externalAttributes = directory.readUInt32LE(at + 38);
      const localOffset = directory.readUInt32LE(at + 42);
      const name = directory.subarray(at + 46, at + 46 + nameLength).toString('utf8');
      at += 46 + nameLength + extraLength + commentLength;
      if (name.endsWith('/')) continue;
      // Unix mode in the high 16 bits when made on Unix (3): links and devices are refused.
      const mode = madeBy === 3 ? externalAttributes >>> 16 : 0;
      const fileType = mode & 0o170000;
      if (fileType !== 0 && fileType !== 0o100000) {
        const what = fileType === 0o120000 ? 'a symbolic link' : 'not a regular file';
        throw refuse(context, `entry ${JSON.stringify(name.slice(0, 200))} is ${what}`);
      }
      if ((flags & 1) !== 0) throw refuse(context, 'encrypted zip entries are not supported');
      if (method !== 0 && method !== 8) {
        throw refuse(
          context,
          `entry ${JSON.stringify(name.slice(0, 200))} uses an unsupported compression`,
        );
      }
      if (compressedSize === 0xffffffff || declaredSize === 0xffffffff) {
        throw refuse(context, 'zip64 archives are not supported');
      }
      // The declared size is a claim: the inflater's own limit is what holds.
      countEntry(context, 0);
      const target = targetOf(context, name);
      const local = Buffer.alloc(30);
      await handle.read(local, 0, 30, localOffset);
      if (local.readUInt32LE(0) !== LOCAL) throw refuse(context, 'a damaged zip archive');
      const dataStart = localOffset + 30 + local.readUInt16LE(26) + local.readUInt16LE(28);
      if (dataStart + compressedSize > size) throw refuse(context, 'a damaged zip archive');
      const compressed = Buffer.alloc(compressedSize);
      await handle.read(compressed, 0, compressedSize, dataStart);
      const budget = Math.min(
        context.limits.maxEntryBytes,
        context.limits.maxTotalBytes - context.state.bytes,
      );
      let content: Buffer;
      if (method === 0) {
        content = compressed;
      } else {
        try {
          content = inflateRawSync(compressed, { maxOutputLength: Math.max(1, budget) });
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
            throw tooLarge(context, 'unpacks to more bytes than allowed');
          }
          throw refuse(context, `entry ${JSON.stringify(name.slice(0, 200))} is damaged`);
        }
      }
      countBytes(context, content.length, content.length);
      if (target) {
        await mkdir(path.dirname(target), { recursive: true });
        const out = await open(target, 'wx');
        try {
          await out.writeFile(content);
        } finally {
          await out.close();
        }
      }
    }
  } finally {
    await handle.close();
  }
}
