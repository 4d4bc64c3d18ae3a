import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { eventually } from '../../test/eventually.ts';
import { projectPerSuite, testAppPerSuite } from '../../test/per-suite.ts';
import { multipartFiles } from '../platform/http/multipart-test-helpers.ts';
import { EXTRACT_STALL_SECONDS } from './document-service.ts';

// Issue 20 item 5: with several servers on one database, a server that starts (or the
// recurring recovery) must not take back documents another live server is extracting — only
// those whose heartbeat stopped; the only server takes back every interrupted one at start.
describe('documents whose extraction was interrupted', () => {
  const t = testAppPerSuite({ config: { jobsEnabled: true } });
  const members = projectPerSuite(t);
  const base = () => `/api/projects/${members.project.id}/documents`;
  const db = () => t.platform.database.db;

  const settled = (datasetId: string) =>
    eventually(
      async () =>
        (
          await t.app.inject({
            method: 'GET',
            url: `${base()}?datasetId=${datasetId}`,
            headers: members.editor.headers,
          })
        ).json() as {
          items: { id: string; name: string; status: string; rowId: string | null }[];
        },
      (value) => !value.items.some((item) => ['queued', 'extracting'].includes(item.status)),
      { what: 'every document extracted' },
    );

  const uploadTwo = async () => {
    const { body, contentType } = multipartFiles([
      { name: 'alive.txt', bytes: 'being extracted by a live server' },
      { name: 'stalled.txt', bytes: 'its server stopped mid-extraction' },
    ]);
    const response = await t.app.inject({
      method: 'POST',
      url: base(),
      headers: { ...members.editor.headers, 'content-type': contentType },
      payload: body,
    });
    expect(response.statusCode).toBe(202);
    const { datasetId } = response.json() as { datasetId: string };
    const done = await settled(datasetId);
    const byName = Object.fromEntries(done.items.map((item) => [item.name, item.id]));
    return { datasetId, alive: byName['alive.txt']!, stalled: byName['stalled.txt']! };
  };
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

  /** As another server would leave them: one beating a second ago, one silent for a minute. */
  const interrupt = async (alive: string, stalled: string) => {
    await sql`update document set status = 'extracting', updated_at = now() - interval '1 second'
      where id = ${alive}`.execute(db());
    await sql`update document set status = 'extracting', updated_at = now() - interval '60 seconds'
      where id = ${stalled}`.execute(db());
  };
  const statusOf = async (id: string) =>
    (
      await db()
        .selectFrom('document')
        .select('status')
        .where('id', '=', id)
        .executeTakeFirstOrThrow()
    ).status;

  it('queues again only the extraction whose heartbeat stopped, and extracts it', async () => {
    const { datasetId, alive, stalled } = await uploadTwo();
    await interrupt(alive, stalled);

    await t.app.documents.documents.recover(EXTRACT_STALL_SECONDS);

    await eventually(
      () => statusOf(stalled),
      (status) => status === 'ready',
      { what: 'the stalled document extracted again' },
    );
    // The live server's document is left to it.
    expect(await statusOf(alive)).toBe('extracting');
    // Its heartbeat keeps it that way for a later recovery too.
    await t.app.documents.documents.recover(EXTRACT_STALL_SECONDS);
    expect(await statusOf(alive)).toBe('extracting');
    await sql`update document set status = 'ready' where id = ${alive}`.execute(db());
    await settled(datasetId);
  });

  it('takes back every interrupted extraction when it is the only server', async () => {
    const { datasetId, alive, stalled } = await uploadTwo();
    await interrupt(alive, stalled);

    await t.app.documents.documents.recover();

    await settled(datasetId);
    expect([await statusOf(alive), await statusOf(stalled)]).toEqual(['ready', 'ready']);
  });

  // A server that stops after appending a document's row and before recording it leaves the
  // document `extracting` with no row id; the retry records the row that is there.
  it('extracts again a document whose row was added before its server stopped, keeping one row', async () => {
    const { datasetId, stalled } = await uploadTwo();
    const rows = await rowsOf(datasetId);
    expect(rows).toHaveLength(2);
    const rowId = (await settled(datasetId)).items.find((item) => item.id === stalled)!.rowId;
    expect(rowId).not.toBeNull();
    await sql`update document set status = 'extracting', row_id = null where id = ${stalled}`.execute(
      db(),
    );

    await t.app.documents.documents.recover();

    const after = await settled(datasetId);
    expect(after.items.find((item) => item.id === stalled)).toMatchObject({
      status: 'ready',
      rowId,
    });
    expect((await rowsOf(datasetId)).sort()).toEqual([...rows].sort());
  });
});
