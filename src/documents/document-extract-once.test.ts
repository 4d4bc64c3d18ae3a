import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { eventually } from '../../test/eventually.ts';
import { projectPerSuite, testAppPerSuite } from '../../test/per-suite.ts';
import { multipartFiles } from '../platform/http/multipart-test-helpers.ts';

// A server that stops after appending a document's row and before recording it leaves the
// document `extracting` with no row id; the recovery queues it again. The retry must record the
// row that is there, not add a second one (docs/documents.md).
describe('a document whose server stopped between its row and its record', () => {
  const t = testAppPerSuite({ config: { jobsEnabled: true } });
  const members = projectPerSuite(t);
  const base = () => `/api/projects/${members.project.id}/documents`;
  const db = () => t.platform.database.db;

  const documents = (datasetId: string) =>
    eventually(
      async () =>
        (
          await t.app.inject({
            method: 'GET',
            url: `${base()}?datasetId=${datasetId}`,
            headers: members.editor.headers,
          })
        ).json() as { items: { id: string; status: string; rowId: string | null }[] },
      (value) => !value.items.some((item) => ['queued', 'extracting'].includes(item.status)),
      { what: 'every document extracted' },
    );
  const rowsOf = async (datasetId: string) =>
    (
      (
        await t.app.inject({
          method: 'GET',
          url: `/api/projects/${members.project.id}/datasets/${datasetId}/rows?limit=100`,
          headers: members.editor.headers,
        })
      ).json() as { rows: { rowId: string }[] }
    ).rows.map((row) => row.rowId);

  it('is extracted again and keeps its one row', async () => {
    const { body, contentType } = multipartFiles([
      { name: 'memo.txt', bytes: 'the row was added, then the server stopped' },
      { name: 'other.txt', bytes: 'a neighbour that finished' },
    ]);
    const response = await t.app.inject({
      method: 'POST',
      url: base(),
      headers: { ...members.editor.headers, 'content-type': contentType },
      payload: body,
    });
    expect(response.statusCode).toBe(202);
    const { datasetId } = response.json() as { datasetId: string };
    const before = await documents(datasetId);
    const rows = await rowsOf(datasetId);
    expect(rows).toHaveLength(2);
    const memo = before.items.find((item) => item.rowId === rows[0]) ?? before.items[0]!;
    const memoRow = memo.rowId;
    expect(memoRow).not.toBeNull();

    // What the stop leaves: the row is in the collection, the document still extracting.
    await sql`update document set status = 'extracting', row_id = null where id = ${memo.id}`.execute(
      db(),
    );
    await t.app.documents.documents.recover();

    const after = await documents(datasetId);
    expect(after.items.find((item) => item.id === memo.id)).toMatchObject({
      status: 'ready',
      rowId: memoRow,
    });
    expect((await rowsOf(datasetId)).sort()).toEqual([...rows].sort());
  });
});
