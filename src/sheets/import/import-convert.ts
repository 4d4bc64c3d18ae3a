import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import ExcelJS from 'exceljs';
import { AppError, validationError } from '../../platform/app-error.ts';
import { readHead } from './import-files.ts';

/**
 * Formats DuckDB cannot read with line-level error reports are first rewritten, streaming,
 * into newline-delimited JSON that it can: JSONL is checked line by line (bad lines skipped
 * and reported), XLSX sheets become one JSON object per row.
 */
export interface RejectedLine {
  line: number;
  reason: string;
  text?: string;
}

export interface ConvertResult {
  path: string;
  lines: number;
  rejected: number;
  /** The first rejects (line, reason), reported to the user. */
  rejects: RejectedLine[];
}

const REJECTS_KEPT = 100;

/** Why a line or document is not one JSON object (undefined when it is). */
function notAnObject(text: string): string | undefined {
  try {
    const value: unknown = JSON.parse(text);
    if (!value || typeof value !== 'object' || Array.isArray(value)) return 'not a JSON object';
    return undefined;
  } catch (error) {
    return `invalid JSON: ${(error as Error).message.slice(0, 200)}`;
  }
}

/** Limits of one conversion: the bytes it may write, the rows it converts, its signal. */
export interface ConvertLimits {
  /** Past this many bytes written the conversion stops with 413 (the import cap). */
  maxBytes: number;
  /** Converts only the first rows (the upload preview); all when undefined. */
  maxRows?: number | undefined;
  signal?: AbortSignal | undefined;
}

/** The largest JSON value (one row) a conversion accepts, like DuckDB's line limit. */
export const MAX_VALUE_BYTES = 16 * 1024 * 1024;

export const expandsTooMuch = (maxBytes: number) =>
  new AppError(
    'PAYLOAD_TOO_LARGE',
    `The file expands to more than the import limit of ${maxBytes} bytes`,
    { details: { maxBytes } },
  );

/**
 * A new temp file that counts what is written to it: past `maxBytes` the write throws 413.
 * `discard` closes and removes it (every failure path calls it).
 */
function boundedOutput(target: string, maxBytes: number) {
  const out = createWriteStream(target, { flags: 'wx', mode: 0o600 });
  let written = 0;
  const closed = () => (out.closed ? Promise.resolve() : once(out, 'close').then(() => undefined));
  return {
    get written() {
      return written;
    },
    async write(text: string) {
      written += Buffer.byteLength(text);
      if (written > maxBytes) throw expandsTooMuch(maxBytes);
      if (!out.write(text)) await once(out, 'drain');
    },
    async close() {
      await new Promise<void>((resolve, reject) =>
        out.end((error?: Error | null) => (error ? reject(error) : resolve())),
      );
    },
    async discard() {
      const done = closed().catch(() => {});
      out.destroy();
      await done;
      await rm(target, { force: true });
    },
  };
}

/** Runs `copy`, then closes `out`; on any failure removes it. `input` is closed either way. */
async function copyTo(
  input: { destroy(): void },
  out: ReturnType<typeof boundedOutput>,
  copy: () => Promise<void>,
) {
  try {
    await copy();
    await out.close();
  } catch (error) {
    await out.discard();
    throw error;
  } finally {
    input.destroy();
  }
}

/**
 * Keeps the JSON-object lines of a JSONL file; reports the others with their line numbers.
 * A skipped line is written as an empty line, so line N of the copy is line N of the file
 * and anything DuckDB reports about the copy names the line a text editor shows.
 */
export async function cleanJsonLines(
  source: string,
  target: string,
  limits: ConvertLimits,
): Promise<ConvertResult> {
  const input = createReadStream(source, { encoding: 'utf8' });
  const out = boundedOutput(target, limits.maxBytes);
  const rejects: RejectedLine[] = [];
  let rejected = 0;
  let lines = 0;
  let number = 0;
  await copyTo(input, out, async () => {
    for await (const raw of createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY })) {
      number++;
      if (limits.signal?.aborted) throw limits.signal.reason;
      if (limits.maxRows !== undefined && lines >= limits.maxRows) break;
      const line = number === 1 ? raw.replace(/^\uFEFF/, '') : raw;
      if (line.trim() === '') {
        await out.write('\n');
        continue;
      }
      const reason = notAnObject(line);
      if (reason) {
        rejected++;
        if (rejects.length < REJECTS_KEPT)
          rejects.push({ line: number, reason, text: line.slice(0, 200) });
        await out.write('\n');
        continue;
      }
      lines++;
      await out.write(`${line}\n`);
    }
  });
  return { path: target, lines, rejected, rejects };
}

export interface XlsxOptions {
  /** Sheet name, or 1-based index (default: the first sheet). */
  sheet?: string | number;
}

type XlsxValue = ExcelJS.CellValue;

function plain(value: XlsxValue): unknown {
  if (value === null || value === undefined) return null;
  if (value instanceof Date) return value.toISOString();
  if (typeof value !== 'object') return value;
  if ('richText' in value) return value.richText.map((part) => part.text).join('');
  if ('formula' in value || 'sharedFormula' in value)
    return plain((value as { result?: XlsxValue }).result ?? null);
  if ('hyperlink' in value)
    return (value as { text?: unknown }).text ?? (value as { hyperlink: string }).hyperlink;
  if ('error' in value) return null;
  return JSON.stringify(value);
}

/**
 * The bytes a ZIP says its entries expand to (central directory; ZIP64 sizes count as 4 GiB,
 * at least what they are). A first check before any entry is inflated: the conversion's own
 * byte count is the one that holds when the directory lies.
 */
export async function zipExpandedSize(file: string): Promise<number | undefined> {
  const handle = await open(file, 'r');
  try {
    const { size } = await handle.stat();
    const tail = Math.min(size, 65_557);
    const buffer = Buffer.alloc(tail);
    await handle.read(buffer, 0, tail, size - tail);
    const end = buffer.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
    if (end < 0 || end + 22 > buffer.length) return undefined;
    const entries = buffer.readUInt16LE(end + 10);
    const directorySize = buffer.readUInt32LE(end + 12);
    const directoryOffset = buffer.readUInt32LE(end + 16);
    if (directoryOffset + directorySize > size) return undefined;
    const directory = Buffer.alloc(directorySize);
    await handle.read(directory, 0, directorySize, directoryOffset);
    let total = 0;
    let at = 0;
    for (let entry = 0; entry < entries && at + 46 <= directory.length; entry++) {
      if (directory.readUInt32LE(at) !== 0x02014b50) return undefined;
      total += directory.readUInt32LE(at + 24);
      at +=
        46 +
        directory.readUInt16LE(at + 28) +
        directory.readUInt16LE(at + 30) +
        directory.readUInt16LE(at + 32);
    }
    return total;
  } finally {
    await handle.close();
  }
}

const unreadableWorkbook = (error: unknown) =>
  new AppError(
    'UNSUPPORTED_MEDIA_TYPE',
    `The file could not be read as an XLSX workbook: ${String((error as Error)?.message ?? error)
      .split('\n')[0]
      ?.replace(/(^|[\s'"(])\/[^\s'"]+/g, '$1<file>')
      .slice(0, 200)}`,
    { cause: error },
  );

/**
 * The chosen worksheet → JSONL with the first row as the header (streamed: one row in
 * memory). The JSONL counts against `limits.maxBytes` (413 past it: a small workbook can
 * expand a thousandfold); on any failure the JSONL is removed.
 */
export async function xlsxToJsonLines(
  source: string,
  target: string,
  options: XlsxOptions,
  limits: ConvertLimits,
): Promise<ConvertResult & { sheets: string[] }> {
  const expanded = await zipExpandedSize(source).catch(() => undefined);
  if (expanded === undefined)
    throw unreadableWorkbook(new Error('not a ZIP archive with a central directory'));
  if (expanded > limits.maxBytes) throw expandsTooMuch(limits.maxBytes);
  const out = boundedOutput(target, limits.maxBytes);
  const sheets: string[] = [];
  let found = false;
  let lines = 0;
  try {
    const reader = new ExcelJS.stream.xlsx.WorkbookReader(source, {
      entries: 'emit',
      sharedStrings: 'cache',
      styles: 'cache',
      hyperlinks: 'ignore',
      worksheets: 'emit',
    });
    let index = 0;
    let stop = false;
    for await (const worksheet of reader) {
      index++;
      const name = (worksheet as unknown as { name?: string }).name ?? `Sheet${index}`;
      sheets.push(name);
      const wanted =
        options.sheet === undefined
          ? index === 1
          : typeof options.sheet === 'number'
            ? options.sheet === index
            : options.sheet === name;
      if (!wanted || found || stop) {
        for await (const _ of worksheet) {
          // skip rows of other sheets
          if (limits.signal?.aborted) throw limits.signal.reason;
        }
        continue;
      }
      found = true;
      let header: string[] | undefined;
      for await (const row of worksheet) {
        if (limits.signal?.aborted) throw limits.signal.reason;
        if (stop) continue;
        const values = (row.values as XlsxValue[]).slice(1);
        if (!header) {
          const seen = new Map<string, number>();
          header = values.map((value, column) => {
            let name = String(plain(value) ?? '').trim() || `Column ${column + 1}`;
            const count = seen.get(name.toLowerCase()) ?? 0;
            seen.set(name.toLowerCase(), count + 1);
            if (count > 0) name = `${name} ${count + 1}`;
            return name;
          });
          continue;
        }
        const record: Record<string, unknown> = {};
        header.forEach((name, column) => {
          record[name] = plain(values[column] ?? null);
        });
        for (let column = header.length; column < values.length; column++) {
          const extra = plain(values[column] ?? null);
          if (extra !== null) record[`Column ${column + 1}`] = extra;
        }
        lines++;
        await out.write(`${JSON.stringify(record)}\n`);
        // The preview: the rest of the sheet is read (the workbook is a stream) but not kept.
        if (limits.maxRows !== undefined && lines >= limits.maxRows) stop = true;
      }
    }
    await out.close();
  } catch (error) {
    await out.discard();
    if (error instanceof AppError || error === limits.signal?.reason) throw error;
    throw unreadableWorkbook(error);
  }
  if (!found) {
    await rm(target, { force: true });
    throw validationError(`No sheet ${String(options.sheet ?? 1)} in the workbook`, [
      { path: 'sheet', message: 'not found' },
    ]);
  }
  return { path: target, lines, rejected: 0, rejects: [], sheets };
}

const refusedJson = (line: number, reason: string) =>
  new AppError('VALIDATION_ERROR', `Line ${line}: ${reason}`, {
    details: { line, issues: [{ path: 'file', message: `line ${line}: ${reason}` }] },
  });

/**
 * Whether a JSON file is one object per line: its first non-blank line (within the first
 * MiB) is a whole object. Otherwise it is read as JSON documents (jsonDocumentsToLines),
 * which also reads one object per line, only without skipping a broken line.
 */
export async function isJsonLines(source: string): Promise<boolean> {
  const head = new TextDecoder('utf-8').decode(await readHead(source, 1024 * 1024));
  const text = head.replace(/^\uFEFF/, '').replace(/^\s+/, '');
  const end = text.search(/\r?\n/);
  if (end === -1 || !text.startsWith('{')) return false;
  try {
    const value: unknown = JSON.parse(text.slice(0, end));
    return Boolean(value) && typeof value === 'object' && !Array.isArray(value);
  } catch {
    return false;
  }
}

/**
 * JSON documents → JSONL, whatever their whitespace: a (pretty-printed) object, objects one
 * after another (on one line or many), an array of objects, with or without a BOM. Each
 * object is checked with JSON.parse and written as its own text (line breaks between tokens
 * become spaces: nested values keep their bytes), on the line it starts at in the file where
 * it can be, so a line DuckDB names in the copy is the file's line. An element that is not an
 * object is skipped and reported (line, reason); text that is no JSON value at all stops the
 * conversion with 400 naming the line.
 */
export async function jsonDocumentsToLines(
  source: string,
  target: string,
  limits: ConvertLimits,
): Promise<ConvertResult> {
  const input = createReadStream(source, { encoding: 'utf8', highWaterMark: 256 * 1024 });
  const out = boundedOutput(target, limits.maxBytes);
  const rejects: RejectedLine[] = [];
  let rejected = 0;
  let lines = 0;
  let line = 1;
  let copyLine = 1;
  let pendingCr = false;
  // Outside any value: 'top'; inside a top-level array between elements: 'array'.
  let place: 'top' | 'array' = 'top';
  let arrayLine = 0;
  let depth = 0;
  let capturing = false;
  let scalar = false;
  let inString = false;
  let escaped = false;
  let pieces: string[] = [];
  let size = 0;
  let valueLine = 0;
  let first = true;
  let done = false;

  const finishValue = async () => {
    const text = pieces.join('');
    pieces = [];
    size = 0;
    capturing = false;
    const reason = notAnObject(text);
    if (reason) {
      rejected++;
      if (rejects.length < REJECTS_KEPT)
        rejects.push({ line: valueLine, reason, text: text.slice(0, 200) });
      return;
    }
    if (valueLine > copyLine) {
      await out.write('\n'.repeat(valueLine - copyLine));
      copyLine = valueLine;
    }
    await out.write(`${text.replace(/[\r\n]+/g, ' ')}\n`);
    copyLine++;
    lines++;
    if (limits.maxRows !== undefined && lines >= limits.maxRows) done = true;
  };

  await copyTo(input, out, async () => {
    for await (let chunk of input as AsyncIterable<string>) {
      if (limits.signal?.aborted) throw limits.signal.reason;
      if (first) {
        chunk = chunk.replace(/^\uFEFF/, '');
        first = false;
      }
      let from = 0;
      for (let at = 0; at < chunk.length && !done; at++) {
        const code = chunk.charCodeAt(at);
        if (pendingCr) {
          pendingCr = false;
          if (code !== 10) line++;
        }
        if (code === 10) line++;
        else if (code === 13) {
          if (at + 1 < chunk.length) {
            if (chunk.charCodeAt(at + 1) !== 10) line++;
          } else pendingCr = true;
        }
        if (capturing) {
          if (inString) {
            if (escaped) escaped = false;
            else if (code === 92) escaped = true;
            else if (code === 34) inString = false;
            continue;
          }
          if (code === 34) {
            inString = true;
            continue;
          }
          if (code === 123 || code === 91) {
            depth++;
            continue;
          }
          if (code === 125 || code === 93) {
            if (scalar) {
              // `]` ends a scalar element and the array.
              pieces.push(chunk.slice(from, at));
              await finishValue();
              place = 'top';
              continue;
            }
            depth--;
            if (depth === 0) {
              pieces.push(chunk.slice(from, at + 1));
              await finishValue();
            }
            continue;
          }
          if (scalar && code === 44) {
            pieces.push(chunk.slice(from, at));
            await finishValue();
            continue;
          }
          continue;
        }
        // Between values.
        if (code === 32 || code === 9 || code === 10 || code === 13) continue;
        if (place === 'array' && code === 44) continue;
        if (place === 'array' && code === 93) {
          place = 'top';
          continue;
        }
        if (place === 'top' && code === 91) {
          place = 'array';
          arrayLine = line;
          continue;
        }
        if (code === 123 || code === 91 || place === 'array') {
          capturing = true;
          scalar = code !== 123 && code !== 91;
          inString = code === 34;
          escaped = false;
          depth = scalar ? 0 : 1;
          valueLine = line;
          from = at;
          continue;
        }
        throw refusedJson(
          line,
          `expected a JSON object or array, found ${JSON.stringify(chunk.slice(at, at + 20))}`,
        );
      }
      if (capturing) {
        pieces.push(chunk.slice(from));
        size += chunk.length - from;
        if (size > MAX_VALUE_BYTES)
          throw refusedJson(valueLine, `a JSON value larger than ${MAX_VALUE_BYTES} bytes`);
      }
      if (done) break;
    }
    if (!done && capturing)
      throw refusedJson(line, `the JSON value starting at line ${valueLine} never ends`);
    if (!done && place === 'array')
      throw refusedJson(line, `the JSON array starting at line ${arrayLine} never ends`);
  });
  return { path: target, lines, rejected, rejects };
}
