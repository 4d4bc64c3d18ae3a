import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
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
import { loadConfig } from '../../platform/config.ts';
import { identifierFor } from '../../platform/duckdb/duckdb-identifiers.ts';
import { uuidv7 } from '../../platform/ids.ts';
import { exportToFile } from '../export/sheet-export.ts';
import { datasetIndexQualified, datasetTable } from '../sheet-query.ts';
import { insertProject, sheetsOn, testActor } from '../sheet-test-helpers.ts';
import { importDir } from './import-files.ts';
import { isPrivateAddress } from './import-url.ts';

describe('sheet imports and exports', () => {
  let storage: TestStorage;
  let platform: TestPlatform;
  let module: ReturnType<typeof sheetsOn>;
  let editor: Actor;
  let projectId: string;
  let server: http.Server;
  let base: string;
  const served = new Map<
    string,
    { status?: number; body?: Buffer | string; headers?: Record<string, string> }
  >();
  const seenAuth: (string | undefined)[] = [];

  beforeAll(async () => {
    storage = await createTestStorage();
    platform = await openTestPlatform(storage, {
      sheets: {
        ...loadConfig({}, {}).sheets,
        importMaxBytes: 20 * 1024 * 1024,
        importMaxBadLineShare: 0.3,
        importAllowPrivateUrls: false,
        importUploadRetentionHours: 24,
        hfHubUrl: 'http://127.0.0.1:1',
        hfToken: 'hf_secret',
        retentionDays: 7,
        sqlTimeoutMs: 1_000,
        sqlMaxRows: 100,
      },
    });
    editor = testActor();
    projectId = await insertProject(platform, editor.userId);
    server = http.createServer((request, response) => {
      seenAuth.push(request.headers.authorization);
      const entry = served.get(request.url ?? '');
      if (!entry) {
        response.writeHead(404).end();
        return;
      }
      response.writeHead(entry.status ?? 200, entry.headers ?? {}).end(entry.body ?? '');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    platform.config.sheets.hfHubUrl = base;
    // Loopback stands in for "public" here; 127.0.0.2 stands in for a private address.
    module = sheetsOn(platform, { addressAllowed: (address) => address === '127.0.0.1' });
    await module.grant(editor.userId, projectId, 'editor');
  });
  afterAll(async () => {
    server.close();
    await platform.close();
    await storage.dispose();
  });

  async function* chunks(content: Buffer | string) {
    yield typeof content === 'string' ? Buffer.from(content) : content;
  }

  async function importBuffer(
    content: Buffer | string,
    filename: string,
    options: Record<string, unknown> = {},
  ) {
    const upload = await module.imports.createUpload(editor, projectId, {
      body: chunks(content),
      filename,
      options,
    });
    await module.imports.startImport(editor, projectId, upload.id, undefined, false);
    const result = (await module.imports.executeImport(upload.id))!;
    return { upload, result };
  }

  async function rowsOf(datasetId: string) {
    const dataset = await module.sheets.getDataset(editor, projectId, datasetId);
    const window = await module.sheets.readWindow(editor, projectId, datasetId, { limit: 1_000 });
    return {
      dataset,
      values: window.rows.map((row) =>
        dataset.columns.map((column) => row.cells[column.id]!.value),
      ),
    };
  }

  it('imports CSV with inferred types, ids in file order, and client filenames as display data only', async () => {
    const before = readdirSync(importDir(platform.config.dataDir));
    const { upload, result } = await importBuffer(
      'name,age,joined,active\nAda,36,2020-01-02,true\nBob,41,2021-03-04,false\n',
      '../../etc/passwd.csv',
    );
    expect(upload.preview).toMatchObject({
      format: 'csv',
      columns: [
        { source: 'name', inferredType: 'text' },
        { source: 'age', inferredType: 'integer' },
        { inferredType: 'date' },
        { inferredType: 'boolean' },
      ],
    });
    expect(result).toMatchObject({
      status: 'succeeded',
      rowsImported: 2,
      rowsRejected: 0,
      displayName: '../../etc/passwd.csv',
    });
    const { dataset, values } = await rowsOf(result.datasetId!);
    expect(dataset.name).toBe('passwd');
    expect(values).toEqual([
      ['Ada', 36, '2020-01-02', true],
      ['Bob', 41, '2021-03-04', false],
    ]);
    // Nothing named after the client's filename was written; temp files are gone.
    expect(readdirSync(importDir(platform.config.dataDir))).toEqual(before);
  });

  it('checkpoints in the background after an import, so no later write pays for it', async () => {
    const wal = () =>
      existsSync(`${platform.duckdb.path}.wal`)
        ? readFileSync(`${platform.duckdb.path}.wal`).length
        : 0;
    await platform.duckdb.checkpointsSettled();
    await platform.duckdb.run('checkpoint');
    expect(wal()).toBe(0);
    const lines = Array.from({ length: 5_000 }, (_, index) => `row ${index},${index}`);
    const { result } = await importBuffer(`name,n\n${lines.join('\n')}\n`, 'many.csv');
    expect(result).toMatchObject({ status: 'succeeded', rowsImported: 5_000 });
    // The import's rows went to the WAL; the checkpoint it asked for folds them into the file.
    await platform.duckdb.checkpointsSettled();
    expect(wal()).toBe(0);
    // The row-id index is made in the same background turn, before that checkpoint.
    const indexes = async () =>
      (
        await platform.duckdb.query<{ n: bigint }>(
          `select count(*) as n from duckdb_indexes() where index_name = ?`,
          [`${identifierFor('ds', result.datasetId!)}_pk`],
        )
      )[0]!.n;
    expect(await indexes()).toBe(1n);
    expect((await rowsOf(result.datasetId!)).values).toHaveLength(1_000);
    // A server that crashed before that background turn left the table without its index: the
    // first open after its file is attached again makes it.
    await platform.duckdb.run(`drop index ${datasetIndexQualified(result.datasetId!)}`);
    await platform.duckdb.datasets.detach(result.datasetId!);
    expect(await indexes()).toBe(0n);
    expect((await rowsOf(result.datasetId!)).values).toHaveLength(1_000);
    await platform.duckdb.checkpointsSettled();
    expect(await indexes()).toBe(1n);
  });

  it('refuses hostile files: empty, a ZIP posing as CSV, binary, NUL-byte names', async () => {
    await expect(importBuffer('', 'empty.csv')).rejects.toMatchObject({ code: 'VALIDATION_ERROR' });
    const zip = Buffer.concat([Buffer.from([0x50, 0x4b, 0x03, 0x04]), Buffer.alloc(100, 1)]);
    await expect(importBuffer(zip, 'data.csv')).rejects.toMatchObject({
      code: 'UNSUPPORTED_MEDIA_TYPE',
      status: 415,
    });
    await expect(
      importBuffer(Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0, 0, 1]), 'data'),
    ).rejects.toMatchObject({ code: 'UNSUPPORTED_MEDIA_TYPE' });
    await expect(importBuffer('a,b\n1,2\n', 'evil.exe')).rejects.toMatchObject({
      code: 'UNSUPPORTED_MEDIA_TYPE',
    });
    const { result } = await importBuffer('a,b\n1,2\n', 'x\u0000y/../../z.csv');
    expect(result.status).toBe('succeeded');
    expect(readdirSync(importDir(platform.config.dataDir)).some((name) => name.includes('z'))).toBe(
      false,
    );
  });

  it('caps the size with 413 and leaves no partial file', async () => {
    const before = readdirSync(importDir(platform.config.dataDir));
    const big = Buffer.alloc(21 * 1024 * 1024, 'a');
    await expect(importBuffer(big, 'big.csv')).rejects.toMatchObject({
      code: 'PAYLOAD_TOO_LARGE',
      status: 413,
    });
    expect(readdirSync(importDir(platform.config.dataDir))).toEqual(before);
  });

  it('skips ragged rows, broken quotes and bad encodings with line numbers; fails cleanly past the bad-line share', async () => {
    const csv =
      'a,b,c\n1,x,2020-01-01\n2,y\n3,z,2020-01-03,extra\n4,\xff\xfe bad,2020-01-04\n5,ok,2020-01-05\n6,"unterminated,7\n8,fine,2020-01-08\n';
    const { result } = await importBuffer(Buffer.from(csv, 'latin1'), 'ragged.csv');
    expect(result.status).toBe('succeeded');
    const rejects = result.rejects as { line: number; reason: string }[];
    expect(rejects.map((reject) => reject.line)).toEqual(expect.arrayContaining([3, 4]));
    expect(result.rowsRejected).toBeGreaterThanOrEqual(2);
    const bad = Array.from({ length: 10 }, (_, i) => (i < 5 ? `${i},only` : `${i},x,y`)).join('\n');
    const failed = await importBuffer(`a,b,c\n${bad}\n`, 'mostly-bad.csv');
    expect(failed.result.status).toBe('failed');
    expect(failed.result.error).toMatchObject({
      code: 'VALIDATION_ERROR',
      details: { rejected: 5 },
    });
    // Nothing written: no dataset remains.
    expect(failed.result.datasetId).toBeNull();
  });

  it('keeps a 10 MB cell and emoji, RTL and combining characters intact', async () => {
    const huge = 'x'.repeat(10 * 1024 * 1024);
    const text = 'emoji 🧠🔥, RTL שלום עולם, combining é̂ n̈';
    const { result } = await importBuffer(`id,body\n1,${huge}\n2,"${text}"\n`, 'cells.csv');
    expect(result.status).toBe('succeeded');
    const { values } = await rowsOf(result.datasetId!);
    expect((values[0]![1] as string).length).toBe(huge.length);
    expect(values[1]![1]).toBe(text);
    // A 10 MB line is read several times (scan, sniff, describe, read): ~2 s alone, 30+ s
    // with both cores busy (load 38 seen), so the timeout is a hang guard, not a speed bound.
  }, 300_000);

  it('imports JSONL skipping malformed lines, JSON arrays, TSV, Parquet and a chosen XLSX sheet', async () => {
    const jsonl = await importBuffer(
      '{"a":1,"b":"x"}\nnot json\n{"a":2,"b":"y"}\n[1,2]\n{"a":3,"b":"z"}\n{"a":4}\n{"a":5}\n{"a":6}\n',
      'data.jsonl',
      {},
    );
    expect(jsonl.result, JSON.stringify(jsonl.result.error)).toMatchObject({
      status: 'succeeded',
      rowsImported: 6,
      rowsRejected: 2,
    });
    expect((jsonl.result.rejects as { line: number }[]).map((reject) => reject.line)).toEqual([
      2, 4,
    ]);
    const json = await importBuffer('[{"a":1,"tags":["x"]},{"a":2,"tags":[]}]', 'data.json');
    expect((await rowsOf(json.result.datasetId!)).values).toEqual([
      [1, ['x']],
      [2, []],
    ]);
    const tsv = await importBuffer('a\tb\n1\thello, world\n', 'data.tsv');
    expect((await rowsOf(tsv.result.datasetId!)).values).toEqual([[1, 'hello, world']]);

    const parquetPath = path.join(storage.dataDir, 'fixture.parquet');
    await platform.duckdb.run(
      `copy (select range as n, 'row ' || range as label from range(5)) to '${parquetPath}' (format parquet)`,
    );
    const parquet = await importBuffer(readFileSync(parquetPath), 'fixture.parquet');
    expect((await rowsOf(parquet.result.datasetId!)).values[4]).toEqual([4, 'row 4']);

    const workbook = new ExcelJS.Workbook();
    workbook.addWorksheet('Ignored').addRow(['nope']);
    const sheet = workbook.addWorksheet('People');
    sheet.addRow(['Name', 'Score']);
    sheet.addRow(['Ada', 10]);
    sheet.addRow(['Bob', 12.5]);
    const xlsx = Buffer.from(await workbook.xlsx.writeBuffer());
    const imported = await importBuffer(xlsx, 'book.xlsx', { sheet: 'People' });
    expect(imported.upload.preview).toMatchObject({ sheets: ['Ignored', 'People'] });
    expect((await rowsOf(imported.result.datasetId!)).values).toEqual([
      ['Ada', 10],
      ['Bob', 12.5],
    ]);
  });

  it('applies type overrides and renames before import', async () => {
    const { result } = await importBuffer('code,amount\n007,1\n042,2\n', 'codes.csv', {
      columns: [
        { source: 'code', type: 'text', name: 'Code' },
        { source: 'amount', include: false },
      ],
    });
    const { dataset, values } = await rowsOf(result.datasetId!);
    expect(dataset.columns.map((column) => [column.name, column.type])).toEqual([['Code', 'text']]);
    expect(values).toEqual([['007'], ['042']]);
  });

  it('reports cells a type override cannot convert (JSONL, JSON, Parquet, XLSX), keeping their text', async () => {
    const cellsOf = async (datasetId: string, columnName: string) => {
      const dataset = await module.sheets.getDataset(editor, projectId, datasetId);
      const column = dataset.columns.find((candidate) => candidate.name === columnName)!;
      const window = await module.sheets.readWindow(editor, projectId, datasetId, {});
      return window.rows.map((row) => {
        const cell = row.cells[column.id]!;
        return { value: cell.value, status: cell.status, raw: cell.raw, error: cell.error };
      });
    };
    const failedCell = (raw: string, type: string) => ({
      value: null,
      status: 'error',
      raw,
      error: `Could not convert the value to ${type}`,
    });
    const done = (value: unknown) => ({ value, status: 'done', raw: null, error: null });

    const jsonl = await importBuffer(
      '{"n":"1","when":"2024-01-02","obj":{"a":1}}\n{"n":"two","when":"soon","obj":5}\n{"n":null,"when":null,"obj":null}\n',
      'typed.jsonl',
      {
        columns: [
          { source: 'n', type: 'integer' },
          { source: 'when', type: 'date' },
          { source: 'obj', type: 'integer' },
        ],
      },
    );
    expect(jsonl.result, JSON.stringify(jsonl.result.error)).toMatchObject({
      status: 'succeeded',
      rowsImported: 3,
      rowsRejected: 0,
    });
    const jsonlColumns = (await rowsOf(jsonl.result.datasetId!)).dataset.columns;
    expect(jsonl.result.conversions).toEqual([
      {
        columnId: jsonlColumns[0]!.id,
        column: 'n',
        type: 'integer',
        failed: 1,
        failures: [{ rowId: '2', raw: 'two' }],
      },
      {
        columnId: jsonlColumns[1]!.id,
        column: 'when',
        type: 'date',
        failed: 1,
        failures: [{ rowId: '2', raw: 'soon' }],
      },
      {
        columnId: jsonlColumns[2]!.id,
        column: 'obj',
        type: 'integer',
        failed: 1,
        failures: [{ rowId: '1', raw: '{"a":1}' }],
      },
    ]);
    // Nothing lost: a failed cell is empty, marked, and keeps its text; NULLs stay plain NULLs.
    expect(await cellsOf(jsonl.result.datasetId!, 'n')).toEqual([
      done(1),
      failedCell('two', 'integer'),
      done(null),
    ]);
    expect(await cellsOf(jsonl.result.datasetId!, 'when')).toEqual([
      done('2024-01-02'),
      failedCell('soon', 'date'),
      done(null),
    ]);

    const json = await importBuffer('[{"v":"2.5"},{"v":"lots"},{"v":"3"}]', 'typed.json', {
      columns: [{ source: 'v', type: 'number' }],
    });
    expect(json.result.conversions).toMatchObject([
      { column: 'v', type: 'number', failed: 1, failures: [{ rowId: '2', raw: 'lots' }] },
    ]);
    expect(await cellsOf(json.result.datasetId!, 'v')).toEqual([
      done(2.5),
      failedCell('lots', 'number'),
      done(3),
    ]);

    const parquetPath = path.join(storage.dataDir, 'typed.parquet');
    await platform.duckdb.run(
      `copy (select case when range % 50 = 0 then 'x' || range else range::varchar end as v from range(250)) to '${parquetPath}' (format parquet)`,
    );
    const parquet = await importBuffer(readFileSync(parquetPath), 'typed.parquet', {
      columns: [{ source: 'v', type: 'integer' }],
    });
    expect(parquet.result).toMatchObject({ status: 'succeeded', rowsImported: 250 });
    expect(parquet.result.conversions).toMatchObject([
      {
        column: 'v',
        failed: 5,
        failures: [
          { rowId: '1', raw: 'x0' },
          { rowId: '51', raw: 'x50' },
          { rowId: '101', raw: 'x100' },
          { rowId: '151', raw: 'x150' },
          { rowId: '201', raw: 'x200' },
        ],
      },
    ]);

    const workbook = new ExcelJS.Workbook();
    const sheet = workbook.addWorksheet('Scores');
    sheet.addRow(['Name', 'Score']);
    sheet.addRow(['Ada', '10']);
    sheet.addRow(['Bob', 'n/a']);
    const xlsx = await importBuffer(Buffer.from(await workbook.xlsx.writeBuffer()), 'typed.xlsx', {
      columns: [{ source: 'Score', type: 'integer' }],
    });
    expect(xlsx.result.conversions).toMatchObject([
      { column: 'Score', failed: 1, failures: [{ rowId: '2', raw: 'n/a' }] },
    ]);
    expect(await cellsOf(xlsx.result.datasetId!, 'Score')).toEqual([
      done(10),
      failedCell('n/a', 'integer'),
    ]);
    // An import without failed conversions reports none.
    const clean = await importBuffer('{"n":"1"}\n', 'clean.jsonl', {
      columns: [{ source: 'n', type: 'integer' }],
    });
    expect(clean.result.conversions).toEqual([]);
  });

  /** A dataset's columns (name, type), and one column's values from its 30,000th row on. */
  async function columnsAndTail(datasetId: string, columnIndex: number) {
    const dataset = await module.sheets.getDataset(editor, projectId, datasetId);
    const window = await module.sheets.readWindow(editor, projectId, datasetId, {
      offset: 29_999,
      limit: 5,
    });
    return {
      columns: dataset.columns.map((column) => [column.name, column.type]),
      values: window.rows.map((row) => row.cells[dataset.columns[columnIndex]!.id]!.value),
    };
  }

  it('a CSV column whose inferred type later lines break is imported as text, nothing lost', async () => {
    // DuckDB infers types from a sample of the first 20,480 lines; line 30,002 breaks it.
    let csv = 'n,label\n';
    for (let index = 0; index < 30_000; index++) csv += `${index},x\n`;
    csv += 'abc,y\n';
    const { result } = await importBuffer(csv, 'widened.csv');
    expect(result).toMatchObject({
      status: 'succeeded',
      rowsImported: 30_001,
      rowsRejected: 0,
      error: { widenedToText: ['n'] },
    });
    const tail = await columnsAndTail(result.datasetId!, 0);
    expect(tail.columns).toEqual([
      ['n', 'text'],
      ['label', 'text'],
    ]);
    expect(tail.values).toEqual(['29999', 'abc']);
  });

  it('reads sniffed ISO dates as DuckDB does: a later line in another separator stays a date', async () => {
    // The sniff (the first 20,480 lines) finds `%Y-%m-%d`; passed to the read, every date went
    // through strptime and line 30,002 would not cast (the column widened to text). DuckDB's
    // own auto-detected read casts ISO dates with its default parser, which reads it.
    let csv = 'n,joined\n';
    for (let index = 0; index < 30_000; index++) csv += `${index},2024-03-${(index % 28) + 1}\n`;
    csv += '30000,2024/03/05\n';
    const { upload, result } = await importBuffer(csv, 'dates.csv');
    expect(result, JSON.stringify(result.error)).toMatchObject({
      status: 'succeeded',
      rowsImported: 30_001,
      rowsRejected: 0,
    });
    const tail = await columnsAndTail(result.datasetId!, 1);
    expect(tail.columns).toEqual([
      ['n', 'integer'],
      ['joined', 'date'],
    ]);
    expect(tail.values).toEqual(['2024-03-12', '2024-03-05']);
    // The preview shows the dialect the read used — no date format: DuckDB's own ISO parser —
    // and sending it back as it is imports the same table (#14 item 14).
    const dialect = (upload.preview as { dialect: Record<string, unknown> }).dialect;
    expect(dialect).toMatchObject({ dateFormat: null, timestampFormat: null });
    const again = await importBuffer(csv, 'dates.csv', { csv: dialect });
    expect(again.result, JSON.stringify(again.result.error)).toMatchObject({
      status: 'succeeded',
      rowsImported: 30_001,
      rowsRejected: 0,
    });
    expect(await columnsAndTail(again.result.datasetId!, 1)).toEqual(tail);
  });

  it('round-trips every format (import → export → import equal) and escapes formulas in CSV and XLSX', async () => {
    const source =
      'name,score,note\nAda,1.5,=cmd|\' /C calc\'!A0\nBob,2,plain\n"Chloé",3,"+SUM(1,2)"\n';
    const { result } = await importBuffer(source, 'source.csv');
    const original = await rowsOf(result.datasetId!);
    const columns = original.dataset.columns.map((column) => ({
      id: column.id,
      name: column.name,
      type: column.type,
    }));
    for (const format of ['csv', 'tsv', 'jsonl', 'parquet', 'xlsx'] as const) {
      const file = await exportToFile(platform.duckdb, {
        datasetId: result.datasetId!,
        columns,
        format,
        withMetadata: false,
        dir: storage.dataDir,
      });
      const again = await importBuffer(readFileSync(file), `again.${format}`);
      rmSync(file);
      expect(again.result.status, format).toBe('succeeded');
      const values = (await rowsOf(again.result.datasetId!)).values;
      if (format === 'csv' || format === 'tsv' || format === 'xlsx') {
        // Formula-looking text comes back prefixed with a quote: escaped, not executed.
        expect(values[0]![2], format).toBe("'=cmd|' /C calc'!A0");
        expect(values[2]![2], format).toBe("'+SUM(1,2)");
        expect(
          values.map((row) => row.slice(0, 2)),
          format,
        ).toEqual(original.values.map((row) => row.slice(0, 2)));
      } else {
        expect(values, format).toEqual(original.values);
      }
    }
    const withMetadata = await exportToFile(platform.duckdb, {
      datasetId: result.datasetId!,
      columns,
      format: 'csv',
      withMetadata: true,
      dir: storage.dataDir,
    });
    expect(readFileSync(withMetadata, 'utf8').split('\n')[0]).toContain('name.status');
  });

  it('imports from a URL, refusing private addresses and re-checking redirects', async () => {
    served.set('/data.csv', { body: 'a,b\n1,2\n' });
    served.set('/redirect', {
      status: 302,
      headers: { location: `http://127.0.0.2:${new URL(base).port}/data.csv` },
    });
    const ok = await module.imports
      .createFromUrl(editor, projectId, { url: `${base}/data.csv` })
      .catch((error: unknown) => error);
    // createFromUrl queues a job; jobs are off here, so it answers SERVICE_UNAVAILABLE after recording.
    expect(ok).toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
    const row = await platform.database.db
      .selectFrom('dataset_import')
      .selectAll()
      .where('source', '=', 'url')
      .orderBy('created_at', 'desc')
      .executeTakeFirstOrThrow();
    const done = await module.imports.executeImport(row.id);
    expect(done).toMatchObject({ status: 'succeeded', rowsImported: 1 });

    const placeholder = path.join(storage.dataDir, 'placeholder.csv');
    writeFileSync(placeholder, 'a\n1\n');
    const redirected = await module.imports.createFromPath(editor, projectId, {
      path: placeholder,
    });
    await platform.database.db
      .updateTable('dataset_import')
      .set({ source: 'url', display_name: `${base}/redirect` })
      .where('id', '=', redirected.id)
      .execute();
    await module.imports.startImport(editor, projectId, redirected.id, undefined, false);
    const refused = await module.imports.executeImport(redirected.id);
    expect(refused).toMatchObject({ status: 'failed', error: { code: 'VALIDATION_ERROR' } });
    expect(JSON.stringify(refused!.error)).toContain('not allowed');
  });

  it('imports a Hub dataset file, sending HF_TOKEN only to the Hub', async () => {
    served.set('/datasets/acme/people/resolve/main/data/train.csv', { body: 'name\nAda\n' });
    seenAuth.length = 0;
    await module.imports
      .createFromHub(editor, projectId, { repo: 'acme/people', file: 'data/train.csv' })
      .catch(() => {});
    const row = await platform.database.db
      .selectFrom('dataset_import')
      .selectAll()
      .where('source', '=', 'hf')
      .executeTakeFirstOrThrow();
    const done = await module.imports.executeImport(row.id);
    expect(done).toMatchObject({ status: 'succeeded', rowsImported: 1 });
    expect(seenAuth).toEqual(['Bearer hf_secret']);
    await expect(
      module.imports.createFromHub(editor, projectId, {
        repo: 'acme/people',
        file: '../../etc/passwd',
      }),
    ).rejects.toMatchObject({ name: 'ZodError' });
  });

  it('cancels a queued import, leaving no dataset', async () => {
    const upload = await module.imports.createUpload(editor, projectId, {
      body: chunks('a\n1\n'),
      filename: 'c.csv',
    });
    const started = await module.imports.startImport(
      editor,
      projectId,
      upload.id,
      undefined,
      false,
    );
    const cancelled = await module.imports.cancelImport(editor, projectId, upload.id);
    expect(cancelled.status).toBe('cancelled');
    await expect(
      module.sheets.getDataset(editor, projectId, started.datasetId!),
    ).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('cancels a running import by interrupting DuckDB', async () => {
    const file = path.join(storage.dataDir, 'slow.csv');
    const lines = ['id,text'];
    for (let index = 0; index < 400_000; index++)
      lines.push(`${index},row number ${index} with some text`);
    writeFileSync(file, lines.join('\n'));
    const row = await module.imports.createFromPath(editor, projectId, { path: file });
    await module.imports.startImport(editor, projectId, row.id, undefined, false);
    const running = module.imports.executeImport(row.id, {
      onProgress: (progress) => {
        if (progress.phase === 'prepare')
          void module.imports.cancelImport(editor, projectId, row.id);
      },
    });
    const outcome = await running;
    expect(outcome!.status).toBe('cancelled');
    expect(outcome!.datasetId).toBeNull();
  });

  it('fails an import whose server stopped mid-read, dropping its partial table and parts', async () => {
    // A finished import wrote its heartbeat while it ran.
    const { result } = await importBuffer('a,b\n1,2\n', 'beat.csv');
    expect((await module.store.findImport(result.id))!.heartbeat_at).not.toBeNull();

    // What a crash leaves: an import `running` with an old heartbeat, its `importing` dataset,
    // a partial DuckDB table, and a part of a CSV read in parts.
    const stalled = async (beatSecondsAgo: number) => {
      const datasetId = uuidv7();
      await module.store.insertDataset({
        id: datasetId,
        project_id: projectId,
        name: `crashed ${beatSecondsAgo}`,
        status: 'importing',
        created_by: editor.userId,
      });
      const row = await module.store.insertImport({
        id: uuidv7(),
        project_id: projectId,
        source: 'path',
        display_name: 'crashed.csv',
        status: 'running',
        options: '{}',
        file_path: '/nowhere/crashed.csv',
        dataset_id: datasetId,
        started_at: new Date(Date.now() - 600_000),
        heartbeat_at: new Date(Date.now() - beatSecondsAgo * 1_000),
      });
      await platform.duckdb.datasets.open(datasetId, { create: true });
      await platform.duckdb.run(`create table ${datasetTable(datasetId)} as select 1 as _row_id`);
      return { row, datasetId };
    };
    const dead = await stalled(120);
    const alive = await stalled(2);
    const part = path.join(importDir(platform.config.dataDir), `part-${uuidv7()}.csv`);
    writeFileSync(part, 'a,b\n');

    expect(await module.imports.recoverStalled(30)).toBe(1);
    const failed = await module.imports.getImport(editor, projectId, dead.row.id);
    expect(failed).toMatchObject({ status: 'failed', error: { code: 'SERVICE_UNAVAILABLE' } });
    await expect(module.sheets.getDataset(editor, projectId, dead.datasetId)).rejects.toMatchObject(
      { code: 'NOT_FOUND' },
    );
    const tables = async (datasetId: string) =>
      platform.duckdb.query(
        `select 1 from duckdb_tables() where table_name = '${identifierFor('ds', datasetId)}'`,
      );
    expect(await tables(dead.datasetId)).toHaveLength(0);
    expect(existsSync(part)).toBe(false);
    // The one still beating is left alone; a second pass claims nothing more.
    expect((await module.store.findImport(alive.row.id))!.status).toBe('running');
    expect(await tables(alive.datasetId)).toHaveLength(1);
    expect(await module.imports.recoverStalled(30)).toBe(0);
    await module.store.updateImport(alive.row.id, { heartbeat_at: new Date(Date.now() - 60_000) });
    expect(await module.imports.recoverStalled(30)).toBe(1);
    expect(await tables(alive.datasetId)).toHaveLength(0);
  });

  it('classifies private addresses', () => {
    for (const address of [
      '10.1.2.3',
      '127.0.0.1',
      '169.254.169.254',
      '192.168.1.1',
      '172.16.0.1',
      '::1',
      'fe80::1',
      'fd00::1',
      '::ffff:127.0.0.1',
      '0.0.0.0',
    ]) {
      expect(isPrivateAddress(address), address).toBe(true);
    }
    for (const address of ['8.8.8.8', '1.1.1.1', '2606:4700:4700::1111'])
      expect(isPrivateAddress(address), address).toBe(false);
  });
});
