import ExcelJS from 'exceljs';
import { beforeAll, describe, expect, it } from 'vitest';
import { projectPerSuite, testAppPerSuite } from '../../../test/per-suite.ts';
import { datasetTable, stateColumn } from '../sheet-query.ts';

describe('dataset export', () => {
  const t = testAppPerSuite();
  const members = projectPerSuite(t);
  let base: string;

  beforeAll(() => {
    base = `/api/projects/${members.project.id}`;
  });

  async function dataset(columns: { name: string; type?: string }[], rows: number) {
    const created = await t.app.inject({
      method: 'POST',
      url: `${base}/datasets`,
      headers: members.editor.headers,
      payload: { name: 'Export', rows, columns },
    });
    expect(created.statusCode, created.body).toBe(201);
    return created.json() as { id: string; columns: { id: string; name: string }[] };
  }

  async function fill(
    datasetId: string,
    cells: { rowId: string; columnId: string; value: unknown }[],
  ) {
    const edited = await t.app.inject({
      method: 'PATCH',
      url: `${base}/datasets/${datasetId}/cells/bulk`,
      headers: members.editor.headers,
      payload: { cells },
    });
    expect(edited.statusCode, edited.body).toBe(200);
  }

  const exported = (datasetId: string, query: string) =>
    t.app.inject({
      method: 'GET',
      url: `${base}/datasets/${datasetId}/export?${query}`,
      headers: members.viewer.headers,
    });

  it('guards formula-looking column names in CSV and TSV headers, as it guards values', async () => {
    const { id, columns } = await dataset(
      [{ name: '=1+2' }, { name: '@SUM(A1)' }, { name: '+cmd' }, { name: '-x' }, { name: 'Plain' }],
      1,
    );
    await fill(
      id,
      columns.map((column, index) => ({
        rowId: '1',
        columnId: column.id,
        value: index === 0 ? '=HYPERLINK(1)' : 'ok',
      })),
    );
    const csv = await exported(id, 'format=csv');
    expect(csv.statusCode).toBe(200);
    expect(csv.body).toBe("'=1+2,'@SUM(A1),'+cmd,'-x,Plain\n'=HYPERLINK(1),ok,ok,ok,ok\n");
    const tsv = await exported(id, 'format=tsv');
    expect(tsv.body).toBe("'=1+2\t'@SUM(A1)\t'+cmd\t'-x\tPlain\n'=HYPERLINK(1)\tok\tok\tok\tok\n");
    // JSONL and Parquet are data, not spreadsheets: names and values stay as written.
    const jsonl = await exported(id, 'format=jsonl');
    expect(JSON.parse(jsonl.body.split('\n')[0]!)).toEqual({
      '=1+2': '=HYPERLINK(1)',
      '@SUM(A1)': 'ok',
      '+cmd': 'ok',
      '-x': 'ok',
      Plain: 'ok',
    });
    // XLSX writes strings as strings, and still marks formula-looking headers.
    const xlsx = await exported(id, 'format=xlsx');
    const workbook = new ExcelJS.Workbook();
    await workbook.xlsx.load(xlsx.rawPayload as unknown as ArrayBuffer);
    const header = workbook.worksheets[0]!.getRow(1).values as unknown[];
    expect(header.slice(1)).toEqual(["'=1+2", "'@SUM(A1)", "'+cmd", "'-x", 'Plain']);
  });

  it('guards the metadata headers and the metadata text (errors, raw model answers)', async () => {
    const { id, columns } = await dataset([{ name: '=Answer' }], 1);
    const [answer] = columns;
    // A model's raw answer and an error message are text an attacker can steer.
    await t.platform.duckdb.run(
      `update ${datasetTable(id)} set ${stateColumn(answer!.id)} = '{"status":"error","error":"=cmd|calc","raw":"@SUM(1)","model":"m"}'`,
    );
    const csv = await exported(id, 'format=csv&metadata=true');
    expect(csv.statusCode).toBe(200);
    const [head, row] = csv.body.split('\n');
    const names = head!.split(',');
    expect(names[0]).toBe("'=Answer");
    expect(names).toContain("'=Answer.status");
    expect(names).toContain("'=Answer.raw");
    expect(names.every((name) => name.startsWith("'="))).toBe(true);
    const values = Object.fromEntries(names.map((name, index) => [name, row!.split(',')[index]]));
    expect(values["'=Answer.status"]).toBe('error');
    expect(values["'=Answer.error"]).toBe("'=cmd|calc");
    expect(values["'=Answer.raw"]).toBe("'@SUM(1)");
    expect(values["'=Answer.model"]).toBe('m');
  });

  it('writes numbers as a person wrote them in CSV and TSV: 22, not 22.0', async () => {
    const { id, columns } = await dataset([{ name: 'N', type: 'number' }], 8);
    const [n] = columns;
    const values = [22, 22.5, -3, 0.1, 0, 123456789012345, 1e20, null];
    await fill(
      id,
      values.map((value, index) => ({ rowId: String(index + 1), columnId: n!.id, value })),
    );
    const csv = await exported(id, 'format=csv');
    expect(csv.body).toBe('N\n22\n22.5\n-3\n0.1\n0\n123456789012345\n1e+20\n\n');
    const tsv = await exported(id, 'format=tsv');
    expect(tsv.body.split('\n').slice(1, 4)).toEqual(['22', '22.5', '-3']);
    // JSON keeps numbers as numbers.
    const jsonl = await exported(id, 'format=jsonl');
    expect(
      jsonl.body
        .split('\n')
        .slice(0, 2)
        .map((line) => JSON.parse(line).N),
    ).toEqual([22, 22.5]);
  });

  /** The `dataset.export` entries of a dataset, oldest first. */
  const exportEntries = (datasetId: string) =>
    t.platform.database.db
      .selectFrom('audit_log')
      .select(['actor_user_id', 'actor_via', 'project_id', 'summary'])
      .where('action', '=', 'dataset.export')
      .where('entity_id', '=', datasetId)
      .orderBy('id')
      .execute();

  it('audits every export: who, which dataset, format and row count', async () => {
    const { id, columns } = await dataset([{ name: 'A' }, { name: 'B', type: 'number' }], 3);
    await fill(id, [{ rowId: '2', columnId: columns[0]!.id, value: 'x' }]);
    expect((await exported(id, 'format=csv')).statusCode).toBe(200);
    const xlsx = await t.app.inject({
      method: 'GET',
      url: `${base}/datasets/${id}/export?format=xlsx&metadata=true`,
      headers: members.owner.headers,
    });
    expect(xlsx.statusCode).toBe(200);
    expect(await exportEntries(id)).toEqual([
      {
        actor_user_id: members.viewer.user.id,
        actor_via: 'session',
        project_id: members.project.id,
        summary: { format: 'csv', withMetadata: false, rows: 3, columns: 2 },
      },
      {
        actor_user_id: members.owner.user.id,
        actor_via: 'session',
        project_id: members.project.id,
        summary: { format: 'xlsx', withMetadata: true, rows: 3, columns: 2 },
      },
    ]);
    // The project owner reads it in the audit log like any other entry.
    const log = await t.app.inject({
      method: 'GET',
      url: `${base}/audit`,
      headers: members.owner.headers,
    });
    expect(log.statusCode, log.body).toBe(200);
    expect(log.body).toContain('dataset.export');
  });

  it('counts the rows of every format and writes no entry for a refused export', async () => {
    const { id } = await dataset([{ name: 'A' }], 5);
    for (const format of ['tsv', 'jsonl', 'parquet'])
      expect((await exported(id, `format=${format}`)).statusCode).toBe(200);
    expect((await exportEntries(id)).map((entry) => entry.summary)).toEqual(
      ['tsv', 'jsonl', 'parquet'].map((format) => ({
        format,
        withMetadata: false,
        rows: 5,
        columns: 1,
      })),
    );
    // Not a member: 404, as if there were no such dataset. A bad format: 400 naming it.
    const outsider = await t.app.inject({
      method: 'GET',
      url: `${base}/datasets/${id}/export?format=csv`,
      headers: members.outsider.headers,
    });
    expect(outsider.statusCode).toBe(404);
    const bad = await exported(id, 'format=exe');
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.code).toBe('VALIDATION_ERROR');
    expect(bad.body).toContain('format');
    expect(await exportEntries(id)).toHaveLength(3);
  });
});
