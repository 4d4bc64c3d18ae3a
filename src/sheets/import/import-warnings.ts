import type { DuckDBConnection } from '@duckdb/node-api';
import { readHead } from './import-files.ts';
import { describeSource, type SourceColumn, type SourceSpec } from './import-reader.ts';
import { mixedLineEnds, type TextScan } from './import-text.ts';

/** Something the preview tells the user before the import writes anything. */
export interface ImportWarning {
  code:
    | 'line-ends-normalized'
    | 'nul-bytes'
    | 'invalid-utf8-lines'
    | 'latin-1'
    | 'first-row-is-data'
    | 'implausible-dialect'
    | 'unescaped-quotes';
  message: string;
  lines?: number[];
}

const listed = (lines: number[]) =>
  `${lines.slice(0, 5).join(', ')}${lines.length > 5 ? ', …' : ''}`;

/** What a scan of a text file found that the import handles in its own way. */
export function textWarnings(scan: TextScan, encoding: string, detected = true): ImportWarning[] {
  const warnings: ImportWarning[] = [];
  if (mixedLineEnds(scan))
    warnings.push({
      code: 'line-ends-normalized',
      message: `The file mixes line endings (${scan.crlf} CRLF, ${scan.lf} LF, ${scan.cr} CR): every line end is read as LF, also inside quoted fields`,
    });
  if (scan.nulBytes > 0)
    warnings.push({
      code: 'nul-bytes',
      message: `${scan.nulBytes} NUL byte${scan.nulBytes === 1 ? '' : 's'} (line ${listed(scan.nulLines)}) removed from the values`,
      lines: scan.nulLines,
    });
  if (scan.invalidUtf8 > 0 && encoding === 'utf-8')
    warnings.push({
      code: 'invalid-utf8-lines',
      message: `${scan.invalidUtf8} line${scan.invalidUtf8 === 1 ? ' is' : 's are'} not valid UTF-8 (line ${listed(scan.invalidUtf8Lines)}): read as UTF-8, they are skipped and reported`,
      lines: scan.invalidUtf8Lines,
    });
  if (scan.invalidUtf8 > 0 && encoding === 'latin-1' && detected)
    warnings.push({
      code: 'latin-1',
      message: `No line with non-ASCII characters is valid UTF-8 (${scan.invalidUtf8} lines): the file is read as Latin-1 (send csv.encoding to choose)`,
      lines: scan.invalidUtf8Lines,
    });
  return warnings;
}

/**
 * A one-column file whose first line DuckDB took as the header although it reads as a value
 * of the column's type (a date, a number): false, the first row is data. Undefined: keep
 * DuckDB's guess.
 */
export async function oneColumnHeader(
  connection: DuckDBConnection,
  spec: SourceSpec,
  sources: readonly SourceColumn[],
): Promise<false | undefined> {
  if (sources.length !== 1 || spec.reader !== 'csv') return undefined;
  const [column] = sources;
  if (!column || column.inferredType === 'text' || column.inferredType === 'json') return undefined;
  const asData = await describeSource(connection, {
    ...spec,
    csv: { ...spec.csv, header: false },
  }).catch(() => undefined);
  const [first] = asData ?? [];
  if (!first || first.sourceName === column.sourceName) return undefined;
  // The first line read as data keeps the column's type: it is a value, not a name.
  return first.sqlType === column.sqlType ? false : undefined;
}

const DELIMITERS = [',', ';', '\t', '|'];

/**
 * A dialect the user forced (delimiter, quote, escape) that reads one column although the
 * first line holds several of a usual delimiter: most likely garbage, said before writing.
 */
export async function dialectWarnings(
  spec: SourceSpec,
  sources: readonly SourceColumn[],
  given:
    | { delimiter?: string | undefined; quote?: string | undefined; escape?: string | undefined }
    | undefined,
): Promise<ImportWarning[]> {
  if (!given || sources.length !== 1) return [];
  if (given.delimiter === undefined && given.quote === undefined && given.escape === undefined)
    return [];
  const head = await readHead(spec.path, 64 * 1024);
  const firstLine =
    new TextDecoder('utf-8')
      .decode(head)
      .replace(/^\uFEFF/, '')
      .split(/\r?\n|\r/)[0] ?? '';
  for (const delimiter of DELIMITERS) {
    const count = firstLine.split(delimiter).length - 1;
    if (count >= 2 && delimiter !== given.delimiter)
      return [
        {
          code: 'implausible-dialect',
          message: `The options given read one column, but the first line holds ${count} ${JSON.stringify(delimiter)}: check the delimiter, quote and escape before importing`,
          lines: [1],
        },
      ];
  }
  return [];
}

/**
 * The first line (of the first 64 KiB) where a field opened with `quote` holds a quote that
 * is neither doubled nor the field's end: `"the "big" one"`. Undefined when there is none.
 */
export function unescapedQuoteLine(
  text: string,
  delimiter: string,
  quote = '"',
): number | undefined {
  let line = 1;
  let quoted = false;
  let fieldStart = true;
  for (let at = 0; at < text.length; at++) {
    const char = text[at]!;
    if (quoted) {
      if (char === quote) {
        const next = text[at + 1];
        if (next === quote) {
          at++;
          continue;
        }
        if (
          next === undefined ||
          next === '\n' ||
          next === '\r' ||
          text.startsWith(delimiter, at + 1)
        ) {
          quoted = false;
          fieldStart = false;
          continue;
        }
        return line;
      }
      if (char === '\n') line++;
      continue;
    }
    if (char === quote && fieldStart) {
      quoted = true;
      fieldStart = false;
    } else if (text.startsWith(delimiter, at)) {
      fieldStart = true;
      at += delimiter.length - 1;
    } else if (char === '\n') {
      line++;
      fieldStart = true;
    } else if (char !== '\r') fieldStart = false;
  }
  return undefined;
}

/** A quote inside a quoted field that is not doubled: named by line, with the way out. */
export async function quoteWarnings(
  spec: SourceSpec,
  dialect: { delimiter: string; quote: string },
): Promise<ImportWarning[]> {
  if (spec.csv?.relaxedQuotes || (spec.csv?.encoding ?? 'utf-8') !== 'utf-8') return [];
  const quote = dialect.quote || '"';
  const head = new TextDecoder('utf-8').decode(await readHead(spec.path, 64 * 1024));
  // Up to the last line end: the head may stop inside a field.
  const text = head.slice(0, Math.max(0, head.lastIndexOf('\n') + 1));
  const line = unescapedQuoteLine(text.replace(/^\uFEFF/, ''), dialect.delimiter, quote);
  if (line === undefined) return [];
  return [
    {
      code: 'unescaped-quotes',
      message: `Line ${line} has a ${quote} inside a quoted field that is not doubled: ${
        dialect.quote === ''
          ? 'the file is read without quoting, so quoted values keep their quotes'
          : 'lines like it are rejected'
      }. "Relaxed quotes" (csv.relaxedQuotes) reads them`,
      lines: [line],
    },
  ];
}
