import { readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import ExcelJS from 'exceljs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createTestStorage,
  openTestPlatform,
  type TestPlatform,
  type TestStorage,
} from '../../../test/test-platform.ts';
import type { Actor } from '../../access/actor.ts';
import { insertProject, sheetsOn, testActor } from '../sheet-test-helpers.ts';
import { importDir } from './import-files.ts';

/**
 * Files as people have them (issue #14 items 6–15) and files built to expand (issue #12
 * item 4). The import cap is low here (256 KiB) so a small bomb crosses it.
 */
const CAP = 256 * 1024;

interface Preview {
  dialect: Record<string, unknown> | null;
  warnings: { code: string; message: string; lines?: number[] }[];
}
const previewOf = (entry: { preview: unknown }) => entry.preview as Preview;

describe('imports of quirky and expanding files', () => {
  let storage: TestStorage;
  let platform: TestPlatform;
  let module: ReturnType<typeof sheetsOn>;
  let editor: Actor;
  let projectId: string;

  beforeAll(async () => {
    storage = await createTestStorage();
    platform = await openTestPlatform(storage, {
      sheets: {
        importMaxBytes: CAP,
        importMaxBadLineShare: 0.3,
        importAllowPrivateUrls: false,
        importUploadRetentionHours: 24,
        hfHubUrl: 'http://127.0.0.1:1',
        hfToken: undefined,
        retentionDays: 7,
        sqlTimeoutMs: 1_000,
        sqlMaxRows: 100,
        formulaTimeoutMs: 60_000,
        formulaMaxValueBytes: 1024 * 1024,
      },
    });
    editor = testActor();
    projectId = await insertProject(platform, editor.userId);
    module = sheetsOn(platform);
    await module.grant(editor.userId, projectId, 'editor');
  });
  afterAll(async () => {
    await platform.close();
    await storage.dispose();
  });

  async function* chunks(content: Buffer | string) {
    yield typeof content === 'string' ? Buffer.from(content) : content;
  }

  const upload = (
    content: Buffer | string,
    filename: string,
    options: Record<string, unknown> = {},
  ) => module.imports.createUpload(editor, projectId, { body: chunks(content), filename, options });

  async function importBuffer(
    content: Buffer | string,
    filename: string,
    options: Record<string, unknown> = {},
  ) {
    const uploaded = await upload(content, filename, options);
    await module.imports.startImport(editor, projectId, uploaded.id, undefined, false);
    const result = (await module.imports.executeImport(uploaded.id))!;
    return { upload: uploaded, result };
  }

  async function valuesOf(datasetId: string) {
    const dataset = await module.sheets.getDataset(editor, projectId, datasetId);
    const window = await module.sheets.readWindow(editor, projectId, datasetId, { limit: 1_000 });
    return {
      names: dataset.columns.map((column) => column.name),
      types: dataset.columns.map((column) => column.type),
      rows: window.rows.map((row) => dataset.columns.map((column) => row.cells[column.id]!.value)),
    };
  }

  const files = () => readdirSync(importDir(platform.config.dataDir)).sort();
  const tables = async () =>
    platform.duckdb.withConnection(async (connection) =>
      (await connection.runAndReadAll('select table_name from duckdb_tables() order by 1'))
        .getRowObjectsJS()
        .map((row) => String(row.table_name)),
    );

  async function workbook(rows: unknown[][]) {
    const book = new ExcelJS.Workbook();
    const sheet = book.addWorksheet('Data');
    for (const row of rows) sheet.addRow(row);
    return Buffer.from(await book.xlsx.writeBuffer());
  }

  describe('bounded by what they expand to (#12 item 4)', () => {
    it('an XLSX whose ZIP expands past the cap is refused with 413 before it is read; nothing left', async () => {
      const [beforeFiles, beforeTables] = [files(), await tables()];
      const cell = 'x'.repeat(40);
      // ~40k cells of one shared string: a few KB zipped, over a megabyte of XML.
      const book = await workbook(
        Array.from({ length: 2_000 }, (_, row) =>
          Array.from({ length: 20 }, () => `${cell}${row % 2}`),
        ),
      );
      expect(book.length).toBeLessThan(CAP);
      await expect(upload(book, 'bomb.xlsx')).rejects.toMatchObject({
        code: 'PAYLOAD_TOO_LARGE',
        status: 413,
      });
      expect(files()).toEqual(beforeFiles);
      expect(await tables()).toEqual(beforeTables);
    });

    it('an XLSX whose rows expand past the cap stops with 413 while converting; no JSONL left', async () => {
      const [beforeFiles, beforeTables] = [files(), await tables()];
      // A 2,000-character shared string in 300 cells: small XML, ~600 KB of rows.
      const long = 'y'.repeat(2_000);
      const book = await workbook([['a'], ...Array.from({ length: 300 }, () => [long])]);
      expect(book.length).toBeLessThan(CAP);
      await expect(upload(book, 'rows.xlsx')).rejects.toMatchObject({
        code: 'PAYLOAD_TOO_LARGE',
        message: expect.stringContaining('expands'),
      });
      expect(files()).toEqual(beforeFiles);
      expect(await tables()).toEqual(beforeTables);
    });

    it('a file wider than 2,000 columns is 413; JSON objects with keys of their own stay one JSON column', async () => {
      const [beforeFiles, beforeTables] = [files(), await tables()];
      const header = Array.from({ length: 2_100 }, (_, index) => `c${index}`).join(',');
      const row = Array.from({ length: 2_100 }, (_, index) => index).join(',');
      const refused = await upload(`${header}\n${row}\n`, 'wide.csv').catch(
        (error: unknown) => error,
      );
      expect(refused).toMatchObject({
        code: 'PAYLOAD_TOO_LARGE',
        details: { columns: 2_100, maxColumns: 2_000 },
      });
      expect(files()).toEqual(beforeFiles);
      expect(await tables()).toEqual(beforeTables);
      // 600 objects with a key each would be 600 × 600 cells of NULL: DuckDB reads them as
      // one JSON column (its field appearance threshold), so the table stays the file's size.
      const lines = Array.from({ length: 600 }, (_, index) => `{"k${index}":1}`).join('\n');
      const { result } = await importBuffer(lines, 'sparse.jsonl');
      expect(result).toMatchObject({ status: 'succeeded', rowsImported: 600 });
      expect((await valuesOf(result.datasetId!)).types).toEqual(['json']);
      // 2,100 columns described and 600 keys sniffed: seconds alone, past 30 s at load 39,
      // and a timed-out import runs on into the next test. A hang guard, not a speed bound.
    }, 300_000);

    it('a Parquet file whose pages expand past the cap is 413 before it is read; nothing left', async () => {
      const source = path.join(storage.dataDir, 'bomb.parquet');
      await platform.duckdb.withConnection((connection) =>
        connection.run(
          `copy (select repeat('x', 2000) || i as s from range(300) t(i)) to '${source}' (format parquet, compression zstd)`,
        ),
      );
      const bytes = readFileSync(source);
      expect(bytes.length).toBeLessThan(CAP);
      const [beforeFiles, beforeTables] = [files(), await tables()];
      await expect(upload(bytes, 'bomb.parquet')).rejects.toMatchObject({
        code: 'PAYLOAD_TOO_LARGE',
      });
      expect(files()).toEqual(beforeFiles);
      expect(await tables()).toEqual(beforeTables);
    });

    it('an XLSX the parser cannot read is 415 and its files are removed', async () => {
      const before = files();
      const broken = Buffer.concat([
        Buffer.from([0x50, 0x4b, 0x03, 0x04]),
        Buffer.alloc(200, 7),
        // An end-of-central-directory record pointing nowhere sensible.
        Buffer.from([0x50, 0x4b, 0x05, 0x06]),
        Buffer.alloc(18, 0),
      ]);
      await expect(upload(broken, 'broken.xlsx')).rejects.toMatchObject({
        code: 'UNSUPPORTED_MEDIA_TYPE',
        status: 415,
      });
      expect(files()).toEqual(before);
    });

    it('the preview converts only the first rows; the import reads all and names the bad line', async () => {
      const lines = Array.from({ length: 1_200 }, (_, index) => `{"n":${index + 1}}`);
      lines.push('{"n": broken');
      const { upload: uploaded, result } = await importBuffer(
        `${lines.join('\n')}\n`,
        'many.jsonl',
      );
      expect(uploaded.preview).toMatchObject({ rejectedBeforeRead: 0, layout: 'lines' });
      expect(result).toMatchObject({ status: 'succeeded', rowsImported: 1_200, rowsRejected: 1 });
      expect(result.rejects).toEqual([expect.objectContaining({ line: 1_201 })]);
    });

    it('uploads never started are removed after the retention time (the job handler, a later clock)', async () => {
      const old = await upload('a,b\n1,2\n', 'old.csv');
      const stray = path.join(importDir(platform.config.dataDir), 'stray.upload');
      writeFileSync(stray, 'left by a crash');
      const past = new Date(Date.now() - 2 * 24 * 3_600_000);
      utimesSync(stray, past, past);
      // Now: nothing is old enough except the stray file.
      expect(await module.imports.purgeExpiredUploads()).toBe(0);
      expect(files()).not.toContain('stray.upload');
      const kept = await module.imports.getImport(editor, projectId, old.id);
      expect(kept.status).toBe('uploaded');
      // 25 hours later the upload is past its retention.
      expect(
        await module.imports.purgeExpiredUploads(Date.now() + 25 * 3_600_000),
      ).toBeGreaterThanOrEqual(1);
      const purged = await module.imports.getImport(editor, projectId, old.id);
      expect(purged).toMatchObject({ status: 'cancelled', error: { code: 'CONFLICT' } });
      expect(files()).toEqual([]);
      await expect(
        module.imports.startImport(editor, projectId, old.id, undefined, false),
      ).rejects.toMatchObject({ code: 'CONFLICT' });
    });
  });

  describe('quirky files (#14 items 6–15)', () => {
    it('6: mixed CRLF and LF line ends, and a bare CR at the end, import (said in the preview)', async () => {
      const lf = Array.from({ length: 1_000 }, (_, index) => `${index},v${index}`).join('\n');
      const { upload: uploaded, result } = await importBuffer(`a,b\r\n${lf}\r`, 'mixed.csv');
      expect(result.status, JSON.stringify(result.error)).toBe('succeeded');
      expect(result.rowsImported).toBe(1_000);
      expect(previewOf(uploaded).warnings).toEqual(
        expect.arrayContaining([expect.objectContaining({ code: 'line-ends-normalized' })]),
      );
      const { rows, names } = await valuesOf(result.datasetId!);
      expect(names).toEqual(['a', 'b']);
      expect(rows.at(-1)).toEqual([999, 'v999']);
      const cr = await importBuffer('a,b\r1,x\r2,y\r', 'mac.csv');
      expect((await valuesOf(cr.result.datasetId!)).rows).toEqual([
        [1, 'x'],
        [2, 'y'],
      ]);
    });

    it('7: a NUL byte inside a field is text, removed and reported by line; binary stays refused', async () => {
      const { upload: uploaded, result } = await importBuffer('a,b\n1,x\u0000y\n2,z\n', 'nul.csv');
      expect(result.status).toBe('succeeded');
      expect(previewOf(uploaded).warnings).toEqual([
        expect.objectContaining({ code: 'nul-bytes', lines: [2] }),
      ]);
      expect((await valuesOf(result.datasetId!)).rows).toEqual([
        [1, 'xy'],
        [2, 'z'],
      ]);
      const binary = Buffer.from(Array.from({ length: 4_000 }, (_, index) => index % 7));
      await expect(upload(binary, 'data.csv')).rejects.toMatchObject({
        code: 'UNSUPPORTED_MEDIA_TYPE',
      });
    });

    it('8: a UTF-8 file with one bad line stays UTF-8 and reports the line; a Latin-1 file says so', async () => {
      const bytes = Buffer.concat([
        Buffer.from('name,city\nAda,Zürich\nBob,'),
        Buffer.from([0x4d, 0xfc, 0x6e]), // "Mün" in Latin-1
        Buffer.from('chen\nCyd,Malmö\nDee,Oslo\nEve,Genève\n'),
      ]);
      const { upload: uploaded, result } = await importBuffer(bytes, 'mostly-utf8.csv');
      expect(uploaded.preview).toMatchObject({ encoding: 'utf-8' });
      expect(previewOf(uploaded).warnings).toEqual([
        expect.objectContaining({ code: 'invalid-utf8-lines', lines: [3] }),
      ]);
      expect(result, JSON.stringify(result.error)).toMatchObject({
        status: 'succeeded',
        rowsImported: 4,
        rowsRejected: 1,
      });
      expect(result.rejects).toEqual([expect.objectContaining({ line: 3 })]);
      expect((await valuesOf(result.datasetId!)).rows).toEqual([
        ['Ada', 'Zürich'],
        ['Cyd', 'Malmö'],
        ['Dee', 'Oslo'],
        ['Eve', 'Genève'],
      ]);
      const latin = await importBuffer(
        Buffer.from('name,city\nAda,Zürich\nBob,Malmö\n', 'latin1'),
        'latin.csv',
      );
      expect(latin.upload.preview).toMatchObject({ encoding: 'latin-1' });
      expect(previewOf(latin.upload).warnings).toEqual([
        expect.objectContaining({ code: 'latin-1' }),
      ]);
      expect((await valuesOf(latin.result.datasetId!)).rows).toEqual([
        ['Ada', 'Zürich'],
        ['Bob', 'Malmö'],
      ]);
    });

    it('9: rejected lines are the lines an editor shows, after multi-line quoted fields (LF and CRLF) and in JSONL', async () => {
      const body = 'a,b\n1,"multi\nline\nmore"\n2,ok,extra\n3,fine\n4\n5,last\n';
      for (const [name, text] of [
        ['lf.csv', body],
        ['crlf.csv', body.replaceAll('\n', '\r\n')],
      ]) {
        const { result } = await importBuffer(text!, name!, { maxBadLineShare: 0.9 });
        expect(result.status, JSON.stringify(result.error)).toBe('succeeded');
        expect((result.rejects as { line: number }[]).map((reject) => reject.line)).toEqual([5, 7]);
      }
      const jsonl = await importBuffer('{"a":1}\n\n{"a":2}\n{"a":\n{"a":3}\n', 'gaps.jsonl', {
        maxBadLineShare: 0.9,
      });
      expect(jsonl.result.rejects).toEqual([expect.objectContaining({ line: 4 })]);
    });

    it('12: a quoted empty string stays an empty string; unquoted empty and the null strings are NULL', async () => {
      const { result } = await importBuffer('a,b\n1,""\n2,\n3,NA\n', 'empty.csv');
      expect((await valuesOf(result.datasetId!)).rows).toEqual([
        [1, ''],
        [2, null],
        [3, 'NA'],
      ]);
      const withNulls = await importBuffer('a,b\n1,""\n2,\n3,NA\n', 'nulls.csv', {
        csv: { nullStrings: ['NA', ''] },
      });
      expect((await valuesOf(withNulls.result.datasetId!)).rows).toEqual([
        [1, ''],
        [2, null],
        [3, null],
      ]);
    });

    it('13: JSON documents import whatever their whitespace and BOM; nested JSON keeps its values', async () => {
      const nested = {
        t: '2020-01-01 10:00:00',
        z: '2021-01-01T10:00:00Z',
        n: 2,
        deep: { s: null },
      };
      const pretty = await importBuffer(JSON.stringify({ id: 1, nested }, null, 2), 'one.json');
      expect(pretty.result.status, JSON.stringify(pretty.result.error)).toBe('succeeded');
      expect(pretty.upload.preview).toMatchObject({ layout: 'documents' });
      const { rows, types } = await valuesOf(pretty.result.datasetId!);
      expect(types).toEqual(['integer', 'json']);
      expect(rows[0]![1]).toEqual(nested);

      const array = await importBuffer(
        `\uFEFF${JSON.stringify([{ a: 1 }, { a: 2 }, 7, { a: 3 }], null, 4)}`,
        'array.json',
      );
      expect(array.result).toMatchObject({ status: 'succeeded', rowsImported: 3, rowsRejected: 1 });
      expect(array.result.rejects).toEqual([
        expect.objectContaining({ line: 8, reason: 'not a JSON object' }),
      ]);
      const concatenated = await importBuffer('{"a":1}{"a":2} {"a":3}\n{"a":\n4}', 'cat.json');
      expect((await valuesOf(concatenated.result.datasetId!)).rows).toEqual([[1], [2], [3], [4]]);

      await expect(upload('{\n"a":1}\n\n  oops', 'bad.json')).rejects.toMatchObject({
        code: 'VALIDATION_ERROR',
        message: expect.stringMatching(/^Line 4: expected a JSON object or array, found "oops"/),
      });
      await expect(upload('[{"a":1},\n{"a":2}', 'open.json')).rejects.toMatchObject({
        message: expect.stringMatching(/^Line 2: the JSON array starting at line 1 never ends/),
      });
    });

    it('11: an unescaped quote inside a quoted field is named by line; relaxed quoting reads it', async () => {
      const text = 'id,title\n1,"a\nb"\n2,"the "big" one, again"\n3,plain\n4,"x"\n';
      const plain = await upload(text, 'quotes.csv');
      expect(previewOf(plain).warnings).toEqual([
        expect.objectContaining({ code: 'unescaped-quotes', lines: [4] }),
      ]);
      const relaxed = await module.imports.previewImport(editor, projectId, plain.id, {
        csv: { relaxedQuotes: true },
      });
      expect(previewOf(relaxed).warnings).toEqual([]);
      expect(previewOf(relaxed).dialect).toMatchObject({ relaxedQuotes: true, quote: '"' });
      await module.imports.startImport(editor, projectId, plain.id, undefined, false);
      const result = (await module.imports.executeImport(plain.id))!;
      expect(result.status, JSON.stringify(result.error)).toBe('succeeded');
      expect((await valuesOf(result.datasetId!)).rows).toEqual([
        [1, 'a\nb'],
        [2, 'the "big" one, again'],
        [3, 'plain'],
        [4, 'x'],
      ]);
    });

    it('10: a one-column file whose first line is data keeps it; "first row is data" for text', async () => {
      const dates = await importBuffer('"2020-01-01"\n"2020-01-02"\n', 'dates.csv');
      expect(previewOf(dates.upload).dialect).toMatchObject({ header: false });
      expect((await valuesOf(dates.result.datasetId!)).rows).toHaveLength(2);
      const numbers = await importBuffer('17\n18\n19\n', 'numbers.csv');
      expect((await valuesOf(numbers.result.datasetId!)).rows).toEqual([[17], [18], [19]]);
      const text = await importBuffer('apple\nbanana\ncherry\n', 'fruit.csv', {
        csv: { header: false },
      });
      expect((await valuesOf(text.result.datasetId!)).rows).toEqual([
        ['apple'],
        ['banana'],
        ['cherry'],
      ]);
    });

    it('14: the preview shows the dialect the import uses, and warns when an override reads one column', async () => {
      // Sending the previewed dialect back reads the same table.
      for (const [name, text] of [
        ['semi.csv', 'a;b\n1;x\n2;y\n3;z\n4;w\n5;v\n'],
        ['pipes.csv', 'a|b|c\n"1|2"|x|y\n3|"q ""r"""|z\n'],
        ['bare-quotes.csv', 'id,title\n1,"the "big" one"\n2,plain\n3,"x"\n'],
        ['tabs.tsv', 'a\tb\n1\t2\n'],
        [
          'iso-dates.csv',
          'n,day,at\n1,2024-03-05,2024-03-05 10:00:00\n2,2024-12-31,2025-01-01 00:00:01\n',
        ],
        [
          'eu-dates.csv',
          'n;day;at\n1;05/03/2024;05/03/2024 10:00:00\n2;31/12/2024;31/12/2024 23:59:59\n',
        ],
      ] as const) {
        const first = await importBuffer(text, name, { maxBadLineShare: 0.9 });
        const dialect = previewOf(first.upload).dialect as {
          delimiter: string;
          quote: string;
          escape: string;
          header: boolean;
          dateFormat: string | null;
          timestampFormat: string | null;
        };
        // The fields that choose how the file is cut, sent back alone…
        const again = await importBuffer(text, name, {
          maxBadLineShare: 0.9,
          csv: {
            delimiter: dialect.delimiter,
            quote: dialect.quote,
            escape: dialect.escape,
            header: dialect.header,
          },
        });
        expect(await valuesOf(again.result.datasetId!), name).toEqual(
          await valuesOf(first.result.datasetId!),
        );
        // ISO dates read with DuckDB's own parser (no format); others with the one sniffed.
        expect([dialect.dateFormat, dialect.timestampFormat], name).toEqual(
          name === 'eu-dates.csv' ? ['%d/%m/%Y', '%d/%m/%Y %H:%M:%S'] : [null, null],
        );
        // …and the whole previewed dialect as it came (formats, nulls, separators, encoding).
        const whole = await importBuffer(text, name, { maxBadLineShare: 0.9, csv: dialect });
        expect(whole.result.status, JSON.stringify(whole.result.error)).toBe('succeeded');
        expect(previewOf(whole.upload).dialect, name).toEqual(dialect);
        expect(await valuesOf(whole.result.datasetId!), name).toEqual(
          await valuesOf(first.result.datasetId!),
        );
      }
      const text = "a;b;c\n1;'x;y';3\n";
      const uploaded = await upload(text, 'semi.csv', { csv: { quote: "'" } });
      expect(previewOf(uploaded).dialect).toMatchObject({ delimiter: ';', quote: "'" });
      const forced = await upload('a,b,c,d\n1,2,3,4\n', 'forced.csv', { csv: { delimiter: '|' } });
      expect(previewOf(forced).warnings).toEqual([
        expect.objectContaining({ code: 'implausible-dialect' }),
      ]);
      // Previewed again with other options (the dialog's "first row is data"), which the
      // start then uses.
      const fruit = await upload('apple\nbanana\ncherry\n', 'fruit.csv');
      expect(previewOf(fruit).dialect).toMatchObject({ header: true });
      const again = await module.imports.previewImport(editor, projectId, fruit.id, {
        csv: { header: false },
      });
      expect(previewOf(again).dialect).toMatchObject({ header: false });
      await module.imports.startImport(editor, projectId, fruit.id, undefined, false);
      const result = (await module.imports.executeImport(fruit.id))!;
      expect((await valuesOf(result.datasetId!)).rows).toEqual([['apple'], ['banana'], ['cherry']]);
      const plain = await upload('a,b,c,d\n1,2,3,4\n', 'plain.csv');
      expect(previewOf(plain).warnings).toEqual([]);
      const wrong = await module.imports.previewImport(editor, projectId, plain.id, {
        csv: { delimiter: '|' },
      });
      expect(previewOf(wrong).warnings).toEqual([
        expect.objectContaining({ code: 'implausible-dialect', lines: [1] }),
      ]);
    });

    it('15: decimal and thousands separators, date formats and the bad-line share per import', async () => {
      const { result } = await importBuffer(
        'amount;day\n1.234,5;01/02/2020\n2,5;03/04/2021\n',
        'eu.csv',
        {
          csv: { decimalSeparator: ',', thousandsSeparator: '.', dateFormat: '%d/%m/%Y' },
        },
      );
      const { rows, types } = await valuesOf(result.datasetId!);
      expect(types).toEqual(['number', 'date']);
      expect(rows).toEqual([
        [1234.5, '2020-02-01'],
        [2.5, '2021-04-03'],
      ]);
      const ragged = 'a,b\n1,x\n2\n3\n4,y\n';
      const refused = await importBuffer(ragged, 'ragged.csv');
      expect(refused.result.status).toBe('failed');
      const allowed = await importBuffer(ragged, 'ragged.csv', { maxBadLineShare: 0.6 });
      expect(allowed.result).toMatchObject({
        status: 'succeeded',
        rowsImported: 2,
        rowsRejected: 2,
      });
    });
  });
});
