import { isAscii, isUtf8 } from 'node:buffer';
import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { discardFile, finishFile } from '../../platform/file-writes.ts';
import { expandsTooMuch } from './import-convert.ts';

/**
 * What one pass over a text file finds that DuckDB's reader would get wrong or hide: mixed
 * line endings, NUL bytes, lines that are not UTF-8. Lines are physical lines (line feeds,
 * and a carriage return not followed by one), as a text editor numbers them.
 */
export interface TextScan {
  lines: number;
  crlf: number;
  /** Line feeds not after a carriage return. */
  lf: number;
  /** Carriage returns not before a line feed (old Mac line ends). */
  cr: number;
  nulBytes: number;
  /** The first lines holding a NUL byte. */
  nulLines: number[];
  /** Lines with bytes that are not UTF-8, and the first of them. */
  invalidUtf8: number;
  invalidUtf8Lines: number[];
  /** Lines with non-ASCII bytes that are valid UTF-8 (evidence the file is UTF-8). */
  validNonAscii: number;
}

const LINES_KEPT = 20;
const CHUNK = 1024 * 1024;

export async function scanText(file: string, signal?: AbortSignal): Promise<TextScan> {
  const scan: TextScan = {
    lines: 0,
    crlf: 0,
    lf: 0,
    cr: 0,
    nulBytes: 0,
    nulLines: [],
    invalidUtf8: 0,
    invalidUtf8Lines: [],
    validNonAscii: 0,
  };
  let line = 1;
  let lastByte = -1;
  const check = (bytes: Buffer, firstLine: number) => {
    // Whole chunks are checked natively; only a chunk that fails is checked line by line.
    if (isAscii(bytes)) return;
    if (isUtf8(bytes)) {
      let at = 0;
      while (at < bytes.length) {
        const end = bytes.indexOf(10, at);
        const stop = end === -1 ? bytes.length : end;
        if (!isAscii(bytes.subarray(at, stop))) scan.validNonAscii++;
        at = stop + 1;
      }
      return;
    }
    let at = 0;
    let number = firstLine;
    while (at < bytes.length) {
      const end = bytes.indexOf(10, at);
      const stop = end === -1 ? bytes.length : end;
      const text = bytes.subarray(at, stop);
      if (!isAscii(text)) {
        if (isUtf8(text)) scan.validNonAscii++;
        else {
          scan.invalidUtf8++;
          if (scan.invalidUtf8Lines.length < LINES_KEPT) scan.invalidUtf8Lines.push(number);
        }
      }
      // A lone CR inside a line starts a new physical line.
      for (let cr = text.indexOf(13); cr !== -1; cr = text.indexOf(13, cr + 1))
        if (cr + 1 < text.length) number++;
      at = stop + 1;
      number++;
    }
  };
  /** Line ends counted with indexOf (native) rather than byte by byte; `before` ends the last read. */
  const countLineEnds = (chunk: Buffer, before: number) => {
    const crs = chunk.indexOf(13);
    if (crs === -1 && before !== 13) {
      // No carriage return: every line feed is a bare LF (the common case, one call per LF).
      for (let at = chunk.indexOf(10); at !== -1; at = chunk.indexOf(10, at + 1)) scan.lf++;
      return;
    }
    for (let at = chunk.indexOf(10); at !== -1; at = chunk.indexOf(10, at + 1)) {
      const previous = at > 0 ? chunk[at - 1] : before;
      if (previous === 13) scan.crlf++;
      else scan.lf++;
    }
    if (before === 13 && chunk[0] !== 10) scan.cr++;
    for (let at = crs; at !== -1; at = chunk.indexOf(13, at + 1))
      if (at + 1 < chunk.length && chunk[at + 1] !== 10) scan.cr++;
  };
  // One reused buffer: the incomplete last line of a read is moved to its start and the next
  // read lands after it, so no chunk is copied or allocated per read (a stream and
  // Buffer.concat per chunk made this pass cost 1–1.6 s of CPU on a 290 MB file, against
  // ~0.2 s now).
  let buffer = Buffer.allocUnsafe(2 * CHUNK);
  let kept = 0;
  let position = 0;
  const input = await open(file, 'r');
  try {
    while (true) {
      if (signal?.aborted) throw signal.reason;
      if (buffer.length - kept < CHUNK) {
        const larger = Buffer.allocUnsafe(kept + 2 * CHUNK);
        buffer.copy(larger, 0, 0, kept);
        buffer = larger;
      }
      const { bytesRead } = await input.read(buffer, kept, CHUNK, position);
      if (bytesRead === 0) break;
      position += bytesRead;
      const chunk = buffer.subarray(kept, kept + bytesRead);
      countLineEnds(chunk, lastByte);
      if (chunk.includes(0)) {
        // Rare: find the lines of the NULs.
        let number = line;
        let from = 0;
        for (let at = chunk.indexOf(0); at !== -1; at = chunk.indexOf(0, at + 1)) {
          for (
            let nl = chunk.indexOf(10, from);
            nl !== -1 && nl < at;
            nl = chunk.indexOf(10, nl + 1)
          ) {
            number++;
            from = nl + 1;
          }
          scan.nulBytes++;
          if (scan.nulLines.length < LINES_KEPT && scan.nulLines.at(-1) !== number)
            scan.nulLines.push(number);
        }
      }
      // UTF-8 is checked on whole lines: a multi-byte character never holds a line feed.
      const lastFeed = chunk.lastIndexOf(10);
      if (lastFeed === -1) {
        kept += bytesRead;
        if (kept > 64 * CHUNK) {
          check(buffer.subarray(0, kept), line);
          kept = 0;
        }
      } else {
        const complete = kept + lastFeed + 1;
        check(buffer.subarray(0, complete), line);
        kept = kept + bytesRead - complete;
        buffer.copyWithin(0, complete, complete + kept);
        line = 1 + scan.lf + scan.crlf + scan.cr;
      }
      lastByte = chunk[chunk.length - 1] ?? lastByte;
    }
    if (lastByte === 13) scan.cr++;
    if (kept) check(buffer.subarray(0, kept), line);
  } finally {
    await input.close();
  }
  scan.lines = scan.lf + scan.crlf + scan.cr + (lastByte === 10 || lastByte === 13 ? 0 : 1);
  return scan;
}

/** Line endings a CSV reader cannot take as they are: CRs alone, or CRLF and LF mixed. */
export const mixedLineEnds = (scan: TextScan) => scan.cr > 0 || (scan.crlf > 0 && scan.lf > 0);

/**
 * The encoding to read a file without a BOM: UTF-8 unless every line with non-ASCII bytes
 * is invalid UTF-8 (then Latin-1, which any byte is). A UTF-8 file with a few bad lines stays
 * UTF-8: those lines are reported, not the whole file turned to mojibake.
 */
export const textEncoding = (scan: TextScan): 'utf-8' | 'latin-1' =>
  scan.invalidUtf8 > 0 && scan.validNonAscii === 0 ? 'latin-1' : 'utf-8';

/** Whether the file needs a cleaned copy before DuckDB reads it (cleanText). */
export const needsCleaning = (scan: TextScan) => mixedLineEnds(scan) || scan.nulBytes > 0;

/**
 * A copy of the file with every line end a line feed (CRLF and lone CR → LF) when they are
 * mixed, and without NUL bytes (no store of ours keeps one), counted against `maxBytes` (it
 * is never larger than the file). Line numbers stay the same.
 */
export async function cleanText(
  source: string,
  target: string,
  scan: TextScan,
  maxBytes: number,
  signal?: AbortSignal,
): Promise<void> {
  const lineEnds = mixedLineEnds(scan);
  const input = createReadStream(source, { highWaterMark: CHUNK });
  const out = createWriteStream(target, { flags: 'wx', mode: 0o600 });
  let written = 0;
  let pendingCr = false;
  try {
    for await (const chunk of input as AsyncIterable<Buffer>) {
      if (signal?.aborted) throw signal.reason;
      const parts: Buffer[] = [];
      let from = 0;
      if (!lineEnds) {
        const bytes = withoutNul(chunk);
        written += bytes.length;
        if (written > maxBytes) throw expandsTooMuch(maxBytes);
        if (!out.write(bytes)) await once(out, 'drain');
        continue;
      }
      if (pendingCr) {
        parts.push(Buffer.from([10]));
        if (chunk[0] === 10) from = 1;
        pendingCr = false;
      }
      for (let at = chunk.indexOf(13, from); at !== -1; at = chunk.indexOf(13, at + 1)) {
        parts.push(chunk.subarray(from, at));
        if (at + 1 === chunk.length) {
          pendingCr = true;
          from = chunk.length;
          break;
        }
        parts.push(Buffer.from([10]));
        from = chunk[at + 1] === 10 ? at + 2 : at + 1;
      }
      parts.push(chunk.subarray(from));
      const bytes = withoutNul(Buffer.concat(parts));
      written += bytes.length;
      if (written > maxBytes) throw expandsTooMuch(maxBytes);
      if (!out.write(bytes)) await once(out, 'drain');
    }
    if (pendingCr) out.write(Buffer.from([10]));
    await finishFile(out);
  } catch (error) {
    await discardFile(out, target);
    throw error;
  } finally {
    input.destroy();
  }
}

function withoutNul(bytes: Buffer): Buffer {
  if (!bytes.includes(0)) return bytes;
  const kept: Buffer[] = [];
  let from = 0;
  for (let at = bytes.indexOf(0); at !== -1; at = bytes.indexOf(0, at + 1)) {
    kept.push(bytes.subarray(from, at));
    from = at + 1;
  }
  kept.push(bytes.subarray(from));
  return Buffer.concat(kept);
}

/**
 * The physical line (1-based) of each byte offset DuckDB reports for a rejected line
 * (`line_byte_position`, which points just past the line end before it): one more than the
 * line feeds before it. One pass over the file up to the largest offset.
 */
export async function linesAtOffsets(
  file: string,
  offsets: readonly number[],
): Promise<Map<number, number>> {
  const wanted = [...new Set(offsets)].sort((a, b) => a - b);
  const result = new Map<number, number>();
  if (wanted.length === 0) return result;
  const last = wanted.at(-1)!;
  const input = createReadStream(file, { highWaterMark: CHUNK, end: Math.max(0, last - 1) });
  let position = 0;
  let feeds = 0;
  let next = 0;
  try {
    for await (const chunk of input as AsyncIterable<Buffer>) {
      while (next < wanted.length && wanted[next]! <= position + chunk.length) {
        const upTo = wanted[next]! - position;
        let count = feeds;
        for (let at = chunk.indexOf(10); at !== -1 && at < upTo; at = chunk.indexOf(10, at + 1))
          count++;
        result.set(wanted[next]!, count + 1);
        next++;
      }
      for (let at = chunk.indexOf(10); at !== -1; at = chunk.indexOf(10, at + 1)) feeds++;
      position += chunk.length;
    }
  } finally {
    input.destroy();
  }
  for (; next < wanted.length; next++) result.set(wanted[next]!, feeds + 1);
  return result;
}
