import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { createInterface } from 'node:readline';
import ExcelJS from 'exceljs';
import { validationError } from '../../platform/app-error.ts';

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

async function write(out: NodeJS.WritableStream, text: string) {
  if (!out.write(text)) await once(out, 'drain');
}

async function close(out: NodeJS.WritableStream & { end(cb: () => void): void }) {
  await new Promise<void>((resolve) => out.end(resolve));
}

/** Keeps the JSON-object lines of a JSONL file; reports the others with their line numbers. */
export async function cleanJsonLines(
  source: string,
  target: string,
  signal?: AbortSignal,
): Promise<ConvertResult> {
  const input = createReadStream(source, { encoding: 'utf8' });
  const out = createWriteStream(target, { flags: 'wx', mode: 0o600 });
  const rejects: RejectedLine[] = [];
  let rejected = 0;
  let lines = 0;
  let number = 0;
  try {
    for await (const line of createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY })) {
      number++;
      if (signal?.aborted) throw signal.reason;
      if (line.trim() === '') continue;
      let reason: string | undefined;
      try {
        const value: unknown = JSON.parse(line);
        if (!value || typeof value !== 'object' || Array.isArray(value))
          reason = 'not a JSON object';
      } catch (error) {
        reason = `invalid JSON: ${(error as Error).message.slice(0, 200)}`;
      }
      if (reason) {
        rejected++;
        if (rejects.length < REJECTS_KEPT)
          rejects.push({ line: number, reason, text: line.slice(0, 200) });
        continue;
      }
      lines++;
      await write(out, `${line}\n`);
    }
  } finally {
    input.destroy();
    await close(out);
  }
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

/** The chosen worksheet → JSONL with the first row as the header (streamed: one row in memory). */
export async function xlsxToJsonLines(
  source: string,
  target: string,
  options: XlsxOptions = {},
  signal?: AbortSignal,
): Promise<ConvertResult & { sheets: string[] }> {
  const reader = new ExcelJS.stream.xlsx.WorkbookReader(source, {
    entries: 'emit',
    sharedStrings: 'cache',
    styles: 'cache',
    hyperlinks: 'ignore',
    worksheets: 'emit',
  });
  const out = createWriteStream(target, { flags: 'wx', mode: 0o600 });
  const sheets: string[] = [];
  let found = false;
  let lines = 0;
  try {
    let index = 0;
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
      if (!wanted || found) {
        for await (const _ of worksheet) {
          // skip rows of other sheets
        }
        continue;
      }
      found = true;
      let header: string[] | undefined;
      for await (const row of worksheet) {
        if (signal?.aborted) throw signal.reason;
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
        await write(out, `${JSON.stringify(record)}\n`);
      }
    }
  } finally {
    await close(out);
  }
  if (!found)
    throw validationError(`No sheet ${String(options.sheet ?? 1)} in the workbook`, [
      { path: 'sheet', message: 'not found' },
    ]);
  return { path: target, lines, rejected: 0, rejects: [], sheets };
}
