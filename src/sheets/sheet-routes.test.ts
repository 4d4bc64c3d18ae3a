import http from 'node:http';
import type { AddressInfo } from 'node:net';
import ExcelJS from 'exceljs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../../test/eventually.ts';
import { createProjectWithMembers, type ProjectWithMembers } from '../../test/factories.ts';
import { createTestApp, type TestApp } from '../../test/test-platform.ts';
import { multipartFiles } from '../platform/http/multipart-test-helpers.ts';
import { readEventsUntil } from '../platform/http/sse-test-helpers.ts';

describe('sheet routes', () => {
  let t: TestApp;
  let members: ProjectWithMembers;
  let base: string;

  beforeAll(async () => {
    t = await createTestApp({ config: { jobsEnabled: true } });
    members = await createProjectWithMembers(t);
    base = `/api/projects/${members.project.id}`;
  });
  afterAll(async () => {
    await t.close();
  });

  const post = (url: string, payload: unknown, who = members.editor) =>
    t.app.inject({ method: 'POST', url, headers: who.headers, payload: payload as object });
  /** A dataset made by the editor, as the API presents it. */
  const newDataset = async (
    name: string,
    rows: number,
    columns: { name: string; type?: string }[],
  ) => (await post(`${base}/datasets`, { name, rows, columns })).json();
  /** An editor's upload of one file as multipart form data. */
  const upload = (filename: string, content: string | Buffer, query = '') => {
    const { body, contentType } = multipartFiles([{ name: filename, bytes: content }]);
    return t.app.inject({
      method: 'POST',
      url: `${base}/imports${query}`,
      headers: { ...members.editor.headers, 'content-type': contentType },
      payload: body,
    });
  };
  /** A ZIP's signature and nothing readable after it. */
  const brokenZip = Buffer.concat([Buffer.from([0x50, 0x4b, 0x03, 0x04]), Buffer.alloc(64, 7)]);

  it('needs a session, hides other projects, and refuses viewers writing', async () => {
    expect((await t.app.inject({ method: 'GET', url: `${base}/datasets` })).statusCode).toBe(401);
    const outsider = await t.app.inject({
      method: 'GET',
      url: `${base}/datasets`,
      headers: members.outsider.headers,
    });
    expect(outsider.statusCode).toBe(404);
    expect(outsider.json()).toMatchObject({ error: { code: 'NOT_FOUND' } });
    expect((await post(`${base}/datasets`, { name: 'x' }, members.viewer)).statusCode).toBe(403);
  });

  it('creates a dataset, edits a cell with compare-and-set (409 with current), reads windows, deletes rows', async () => {
    const created = await post(`${base}/datasets`, {
      name: 'Grid',
      rows: 5,
      columns: [{ name: 'Name' }, { name: 'N', type: 'integer' }],
    });
    expect(created.statusCode).toBe(201);
    const dataset = created.json();
    const [name, n] = dataset.columns;
    const url = `${base}/datasets/${dataset.id}`;
    const edit = (value: unknown, expectedVersion: number) =>
      t.app.inject({
        method: 'PATCH',
        url: `${url}/cells`,
        headers: members.editor.headers,
        payload: { rowId: '2', columnId: name.id, expectedVersion, value },
      });
    expect((await edit('Ada', 0)).json()).toMatchObject({ value: 'Ada', version: 1 });
    const stale = await edit('Bob', 0);
    expect(stale.statusCode).toBe(409);
    expect(stale.json()).toMatchObject({
      error: { code: 'CONFLICT', details: { current: { value: 'Ada', version: 1 } } },
    });
    const bad = await t.app.inject({
      method: 'PATCH',
      url: `${url}/cells`,
      headers: members.editor.headers,
      payload: { rowId: '2', columnId: n.id, expectedVersion: 0, value: 'x' },
    });
    expect(bad.statusCode).toBe(400);
    const window = await post(
      `${url}/rows/query`,
      { offset: 0, limit: 2, sort: [{ columnId: name.id, direction: 'asc' }] },
      members.viewer,
    );
    expect(window.json()).toMatchObject({
      total: 5,
      rows: [{ rowId: '2', ordinal: 1, cells: { [name.id]: { value: 'Ada' } } }, { ordinal: 2 }],
    });
    const deleted = await post(`${url}/rows/delete`, { rowIds: ['1', '3', '5'] });
    expect(deleted.json()).toEqual({ deleted: 3 });
    const rows = await t.app.inject({
      method: 'GET',
      url: `${url}/rows?limit=10`,
      headers: members.viewer.headers,
    });
    expect(
      rows.json().rows.map((row: { rowId: string; ordinal: number }) => [row.rowId, row.ordinal]),
    ).toEqual([
      ['2', 1],
      ['4', 2],
    ]);
    const sql = await post(
      `${url}/sql`,
      { sql: 'select count(*) as n from dataset' },
      members.viewer,
    );
    expect(sql.json().rows).toEqual([{ n: '2' }]);
    const attach = await post(`${url}/sql`, { sql: "attach '/tmp/x.db' as x" }, members.viewer);
    expect(attach.statusCode).toBe(400);
    expect(attach.json().error.code).toBe('VALIDATION_ERROR');
  });

  it('edits many cells in one request: per-cell conflicts; a bad item names its field and writes nothing', async () => {
    const dataset = await newDataset('Paste', 3, [
      { name: 'Name' },
      { name: 'N', type: 'integer' },
    ]);
    const [name, n] = dataset.columns;
    const url = `${base}/datasets/${dataset.id}`;
    const bulk = (cells: unknown[], who = members.editor) =>
      t.app.inject({
        method: 'PATCH',
        url: `${url}/cells/bulk`,
        headers: who.headers,
        payload: { cells },
      });
    await t.app.inject({
      method: 'PATCH',
      url: `${url}/cells`,
      headers: members.editor.headers,
      payload: { rowId: '1', columnId: name.id, expectedVersion: 0, value: 'theirs' },
    });
    const pasted = await bulk([
      { rowId: '1', columnId: name.id, value: 'mine', expectedVersion: 0 },
      { rowId: '2', columnId: name.id, value: 'b', expectedVersion: 0 },
      { rowId: '2', columnId: n.id, value: 7 },
    ]);
    expect(pasted.statusCode).toBe(200);
    expect(pasted.json()).toMatchObject({
      cells: [
        { rowId: '2', columnId: name.id, value: 'b', version: 1, validated: true },
        { rowId: '2', columnId: n.id, value: 7, version: 1 },
      ],
      conflicts: [
        { index: 0, rowId: '1', columnId: name.id, current: { value: 'theirs', version: 1 } },
      ],
    });

    const badField = await bulk([
      { rowId: '3', columnId: name.id, value: 'x' },
      { rowId: '3', columnId: 'not-a-uuid', value: 'x' },
    ]);
    expect(badField.statusCode).toBe(400);
    expect(badField.json().error.details.issues[0].path).toBe('body.cells.1.columnId');
    const badValue = await bulk([
      { rowId: '3', columnId: name.id, value: 'x' },
      { rowId: '3', columnId: n.id, value: 'seven' },
    ]);
    expect(badValue.statusCode).toBe(400);
    expect(badValue.json().error).toMatchObject({
      code: 'VALIDATION_ERROR',
      details: { issues: [{ path: 'cells.1.value' }] },
    });
    const missingRow = await bulk([
      { rowId: '3', columnId: name.id, value: 'x' },
      { rowId: '404', columnId: name.id, value: 'x' },
    ]);
    expect(missingRow.statusCode).toBe(404);
    expect(missingRow.json().error.details).toMatchObject({
      entity: 'row',
      id: '404',
      path: 'cells.1.rowId',
    });
    const tooMany = await bulk(
      Array.from({ length: 10_001 }, (_, index) => ({
        rowId: String(index + 1),
        columnId: name.id,
        value: null,
      })),
    );
    expect(tooMany.statusCode).toBe(400);
    expect(tooMany.json().error.details.issues[0].path).toBe('body.cells');
    expect(
      (await bulk([{ rowId: '3', columnId: name.id, value: 'x' }], members.viewer)).statusCode,
    ).toBe(403);
    const row3 = await post(`${url}/rows/query`, { offset: 2, limit: 1 }, members.viewer);
    expect(row3.json().rows[0].cells[name.id]).toMatchObject({ value: null, version: 0 });
  });

  it('takes a full 10,000-cell paste, larger than the default body limit, in one request', async () => {
    const dataset = await newDataset('Big paste', 5_000, [{ name: 'A' }, { name: 'B' }]);
    const cells = Array.from({ length: 5_000 }, (_, index) =>
      dataset.columns.map((column: { id: string }) => ({
        rowId: String(index + 1),
        columnId: column.id,
        value: `${index} ${'x'.repeat(200)}`,
        expectedVersion: 0,
      })),
    ).flat();
    const payload = JSON.stringify({ cells });
    expect(payload.length).toBeGreaterThan(t.platform.config.bodyLimit);
    const response = await t.app.inject({
      method: 'PATCH',
      url: `${base}/datasets/${dataset.id}/cells/bulk`,
      headers: { ...members.editor.headers, 'content-type': 'application/json' },
      payload,
    });
    expect(response.statusCode).toBe(200);
    expect(response.json().cells).toHaveLength(10_000);
    const sql = await post(
      `${base}/datasets/${dataset.id}/sql`,
      { sql: 'select count(*) as n from dataset where "A" like \'% x%\' and "B" like \'% x%\'' },
      members.viewer,
    );
    expect(sql.json().rows).toEqual([{ n: '5000' }]);
  });

  it('uploads, imports through the job, and exports streamed with formula escaping', async () => {
    const uploaded = await upload(
      '../../../etc/passwd.csv',
      'name,score\n=cmd|calc,1\nBob,2\n',
      '?start=true&name=Scores',
    );
    expect(uploaded.statusCode).toBe(201);
    const started = uploaded.json();
    // Busboy keeps only the base name; either way it is display data, never a path on disk.
    expect(started).toMatchObject({ status: 'queued', displayName: 'passwd.csv' });
    const current = await eventually(
      async () =>
        (
          await t.app.inject({
            method: 'GET',
            url: `${base}/imports/${started.id}`,
            headers: members.viewer.headers,
          })
        ).json(),
      (value) => ['succeeded', 'failed', 'cancelled'].includes(value.status),
      { what: 'the import ended' },
    );
    expect(current).toMatchObject({ status: 'succeeded', rowsImported: 2 });
    const exported = await t.app.inject({
      method: 'GET',
      url: `${base}/datasets/${current.datasetId}/export?format=csv`,
      headers: members.viewer.headers,
    });
    expect(exported.statusCode).toBe(200);
    expect(exported.headers['content-disposition']).toContain('Scores.csv');
    expect(exported.body).toBe("name,score\n'=cmd|calc,1\nBob,2\n");
    const refused = await upload('data.csv', brokenZip);
    expect(refused.statusCode).toBe(415);
    expect(refused.json().error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
  });

  it('previews an upload again with options (editors only, bad options name their field)', async () => {
    const uploaded = await upload('fruit.csv', 'apple\nbanana\ncherry\n');
    expect(uploaded.statusCode).toBe(201);
    const { id } = uploaded.json();
    const url = `${base}/imports/${id}/preview`;
    const previewed = await post(url, { csv: { header: false } });
    expect(previewed.statusCode).toBe(200);
    expect(previewed.json()).toMatchObject({
      status: 'uploaded',
      options: { csv: { header: false } },
      preview: { dialect: { header: false }, warnings: [] },
    });
    expect((await post(url, { csv: { header: false } }, members.viewer)).statusCode).toBe(403);
    const bad = await post(url, { csv: { decimalSeparator: ';' } });
    expect(bad.statusCode).toBe(400);
    expect(JSON.stringify(bad.json().error)).toContain('decimalSeparator');
    // The preview's dialect, sent back over HTTP as it came (its nulls: no format), is taken.
    const dialect = previewed.json().preview.dialect;
    expect(dialect).toMatchObject({ dateFormat: null, thousandsSeparator: null });
    const again = await post(url, { csv: dialect });
    expect(again.statusCode, again.body).toBe(200);
    expect(again.json().preview.dialect).toEqual(dialect);
    const empty = await post(url, { csv: { dateFormat: '' } });
    expect(empty.statusCode).toBe(400);
    expect(JSON.stringify(empty.json().error)).toContain('dateFormat');
    const refused = await upload('book.xlsx', brokenZip);
    expect(refused.statusCode).toBe(415);
    expect(refused.json().error.message).toContain('could not be read as an XLSX workbook');
  });

  it("cuts XLSX cells to Excel's 32,767-character limit, marked, and counts them in a header", async () => {
    const dataset = await newDataset('Long cells', 3, [{ name: 'Text' }, { name: 'Note' }]);
    const [text, note] = dataset.columns;
    const url = `${base}/datasets/${dataset.id}`;
    const long = `${'a'.repeat(39_999)}z`;
    // 20,000 emoji are 40,000 UTF-16 units; the cut must not split a surrogate pair.
    const emoji = '😀'.repeat(20_000);
    const edits = await t.app.inject({
      method: 'PATCH',
      url: `${url}/cells/bulk`,
      headers: members.editor.headers,
      payload: {
        cells: [
          { rowId: '1', columnId: text.id, value: long },
          { rowId: '2', columnId: text.id, value: emoji },
          { rowId: '3', columnId: text.id, value: 'short' },
          { rowId: '1', columnId: note.id, value: 'x'.repeat(32_767) },
        ],
      },
    });
    expect(edits.statusCode, edits.body).toBe(200);
    const exported = await t.app.inject({
      method: 'GET',
      url: `${url}/export?format=xlsx`,
      headers: members.viewer.headers,
    });
    expect(exported.statusCode).toBe(200);
    expect(exported.headers['x-braincells-truncated-cells']).toBe('2');
    const workbook = new ExcelJS.Workbook();
    await workbook.xlsx.load(exported.rawPayload as unknown as ArrayBuffer);
    const sheet = workbook.worksheets[0]!;
    const cell = (row: number, column: number) => String(sheet.getRow(row).getCell(column).value);
    const cut = cell(2, 1);
    expect(cut).toHaveLength(32_767);
    expect(cut.endsWith('…[truncated]')).toBe(true);
    expect(cut.startsWith('a'.repeat(32_000))).toBe(true);
    const cutEmoji = cell(3, 1);
    expect(cutEmoji.length).toBeLessThanOrEqual(32_767);
    expect(cutEmoji.endsWith('…[truncated]')).toBe(true);
    expect(cutEmoji.isWellFormed()).toBe(true);
    expect(cell(4, 1)).toBe('short');
    // Exactly at the limit is not cut.
    expect(cell(2, 2)).toBe('x'.repeat(32_767));
    // Other formats keep every cell whole and send no count.
    const csv = await t.app.inject({
      method: 'GET',
      url: `${url}/export?format=csv`,
      headers: members.viewer.headers,
    });
    expect(csv.headers['x-braincells-truncated-cells']).toBeUndefined();
    expect(csv.body).toContain(long);
    const none = await t.app.inject({
      method: 'GET',
      url: `${base}/datasets/${(await newDataset('Short', 1, [{ name: 'A' }])).id}/export?format=xlsx`,
      headers: members.viewer.headers,
    });
    expect(none.headers['x-braincells-truncated-cells']).toBe('0');
  });

  it('streams dataset changes over SSE with ids, and resumes after Last-Event-ID', async () => {
    const dataset = await newDataset('Live', 2, [{ name: 'A' }]);
    const url = `${base}/datasets/${dataset.id}`;
    const address = await t.app.listen({ port: 0, host: '127.0.0.1' });
    const port = (t.app.server.address() as AddressInfo).port;
    expect(address).toContain(String(port));
    const received: string[] = [];
    const request = http.get(`http://127.0.0.1:${port}${url}/events`, {
      headers: members.viewer.headers,
    });
    const response = await new Promise<http.IncomingMessage>((resolve) =>
      request.on('response', resolve),
    );
    expect(response.headers['content-type']).toContain('text/event-stream');
    response.setEncoding('utf8');
    response.on('data', (chunk: string) => received.push(chunk));
    await t.app.inject({
      method: 'PATCH',
      url: `${url}/cells`,
      headers: members.editor.headers,
      payload: { rowId: '1', columnId: dataset.columns[0].id, expectedVersion: 0, value: 'x' },
    });
    await post(`${url}/rows`, { rows: [{ [dataset.columns[0].id]: 'y' }] });
    const text = await eventually(
      () => received.join(''),
      (seen) => seen.includes('rows-append'),
      { what: 'the rows-append event' },
    );
    expect(text).toContain('id: 1\nevent: cells-update\n');
    expect(text).toContain('id: 2\nevent: rows-append\n');
    request.destroy();
    const chunk = await readEventsUntil(
      t.app,
      `${url}/events`,
      { ...members.viewer.headers, 'last-event-id': '1' },
      'rows-append',
    );
    expect(chunk).toContain('id: 2\nevent: rows-append');
    expect(chunk).not.toContain('id: 1\n');
  });
});
