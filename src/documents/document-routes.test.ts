import { readdirSync } from 'node:fs';
import path from 'node:path';
import { PDFDocument, StandardFonts } from 'pdf-lib';
import { describe, expect, it } from 'vitest';
import { eventually } from '../../test/eventually.ts';
import { projectPerSuite, testAppPerSuite } from '../../test/per-suite.ts';
import { multipartFiles } from '../platform/http/multipart-test-helpers.ts';

async function onePagePdf(text: string) {
  const document = await PDFDocument.create();
  const font = await document.embedFont(StandardFonts.Helvetica);
  document.addPage([300, 200]).drawText(text, { x: 10, y: 100, size: 12, font });
  return document.save();
}

describe('documents API', () => {
  const t = testAppPerSuite({
    config: {
      jobsEnabled: true,
      documents: { maxFileBytes: 64 * 1024, maxBatchBytes: 200 * 1024, extractTimeoutMs: 60_000 },
    },
  });
  const members = projectPerSuite(t);
  const base = () => `/api/projects/${members.project.id}/documents`;

  const upload = (
    files: { name: string; bytes: Buffer | Uint8Array | string }[],
    query = '',
    who = members.editor,
  ) => {
    const { body, contentType } = multipartFiles(files);
    return t.app.inject({
      method: 'POST',
      url: `${base()}${query}`,
      headers: { ...who.headers, 'content-type': contentType },
      payload: body,
    });
  };
  const list = async (datasetId: string) =>
    (
      await t.app.inject({
        method: 'GET',
        url: `${base()}?datasetId=${datasetId}`,
        headers: members.editor.headers,
      })
    ).json();

  it('uploads many files into a new collection; each becomes a row once its text is extracted', async () => {
    const invoice = await onePagePdf('Invoice 7: total 120.50 EUR');
    const response = await upload([
      { name: 'invoice.pdf', bytes: invoice },
      { name: '../../etc/passwd', bytes: 'plain text, not a password file' },
      {
        name: 'page.html',
        bytes: '<!doctype html><title>Note</title><p>Paid in full.</p><script>alert(1)</script>',
      },
      { name: 'again.pdf', bytes: invoice },
      { name: 'tool.exe', bytes: Buffer.from([0x4d, 0x5a, 0x00, 0x01, 0x02]) },
    ]);
    expect(response.statusCode).toBe(202);
    const result = response.json();
    expect(result.documents.map((document: { name: string }) => document.name)).toEqual([
      'invoice.pdf',
      'passwd',
      'page.html',
      'tool.exe',
    ]);
    // The same bytes twice: detected, not imported twice.
    expect(result.duplicates).toEqual([{ name: 'again.pdf', duplicateOf: 'invoice.pdf' }]);

    const done = await eventually(
      () => list(result.datasetId),
      (value) =>
        !value.items.some((item: { status: string }) =>
          ['queued', 'extracting'].includes(item.status),
        ),
      { what: 'every document extracted' },
    );
    expect(
      done.items.map((item: { name: string; status: string; pages: number | null }) => [
        item.name,
        item.status,
        item.pages,
      ]),
    ).toEqual([
      ['invoice.pdf', 'ready', 1],
      ['passwd', 'ready', null],
      ['page.html', 'ready', null],
      ['tool.exe', 'unsupported', null],
    ]);
    expect(done.counts).toEqual({ ready: 3, unsupported: 1 });

    // The collection is a dataset: one row per document, text and per-page text in cells.
    const dataset = (
      await t.app.inject({
        method: 'GET',
        url: `/api/projects/${members.project.id}/datasets/${result.datasetId}`,
        headers: members.editor.headers,
      })
    ).json();
    const column = (name: string) =>
      dataset.columns.find((entry: { name: string }) => entry.name === name).id;
    const window = (
      await t.app.inject({
        method: 'POST',
        url: `/api/projects/${members.project.id}/datasets/${result.datasetId}/rows/query`,
        headers: members.editor.headers,
        payload: { limit: 10 },
      })
    ).json();
    const rows = window.rows.map((row: { cells: Record<string, { value: unknown }> }) => ({
      name: row.cells[column('Name')]!.value,
      status: row.cells[column('Status')]!.value,
      text: row.cells[column('Text')]!.value,
      pages: row.cells[column('Page text')]!.value,
      error: row.cells[column('Error')]!.value,
    }));
    expect(rows[0]).toEqual({
      name: 'invoice.pdf',
      status: 'ready',
      text: 'Invoice 7: total 120.50 EUR',
      pages: ['Invoice 7: total 120.50 EUR'],
      error: null,
    });
    expect(String(rows[2].text)).toContain('Paid in full.');
    expect(String(rows[2].text)).not.toContain('alert');
    expect(rows[3]).toMatchObject({
      name: 'tool.exe',
      status: 'unsupported',
      text: null,
      error: expect.stringContaining('binary'),
    });

    // The original comes back byte for byte, as an attachment that no browser renders.
    const original = await t.app.inject({
      method: 'GET',
      url: `${base()}/${result.documents[0].id}/original`,
      headers: members.viewer.headers,
    });
    expect(original.statusCode).toBe(200);
    expect(Buffer.compare(original.rawPayload, Buffer.from(invoice))).toBe(0);
    expect(original.headers).toMatchObject({
      'content-type': 'application/pdf',
      'x-content-type-options': 'nosniff',
    });
    expect(original.headers['content-disposition']).toMatch(/^attachment; filename="invoice.pdf"/);
    const html = await t.app.inject({
      method: 'GET',
      url: `${base()}/${result.documents[2].id}/original`,
      headers: members.viewer.headers,
    });
    expect(html.headers['content-type']).toMatch(/^text\/plain/);

    // Inline (the viewer's frame) only for a PDF: framed by the app alone. HTML asked inline
    // is still an attachment, sandboxed; a bad value is a 400 naming the parameter.
    const framed = await t.app.inject({
      method: 'GET',
      url: `${base()}/${result.documents[0].id}/original?inline=true`,
      headers: members.viewer.headers,
    });
    expect(framed.statusCode).toBe(200);
    expect(Buffer.compare(framed.rawPayload, Buffer.from(invoice))).toBe(0);
    expect(framed.headers['content-type']).toBe('application/pdf');
    expect(framed.headers['content-disposition']).toMatch(/^inline; filename="invoice.pdf"/);
    expect(framed.headers['content-security-policy']).toBe(
      "default-src 'none'; frame-ancestors 'self'",
    );
    for (const id of [result.documents[2].id, result.documents[1].id]) {
      const attached = await t.app.inject({
        method: 'GET',
        url: `${base()}/${id}/original?inline=true`,
        headers: members.viewer.headers,
      });
      expect(attached.headers['content-disposition']).toMatch(/^attachment;/);
      expect(attached.headers['content-security-policy']).toBe("default-src 'none'; sandbox");
    }
    const wrong = await t.app.inject({
      method: 'GET',
      url: `${base()}/${result.documents[0].id}/original?inline=yes`,
      headers: members.viewer.headers,
    });
    expect(wrong.statusCode).toBe(400);
    expect(JSON.stringify(wrong.json().error.details)).toContain('inline');

    const collections = await t.app.inject({
      method: 'GET',
      url: `${base()}/collections`,
      headers: members.viewer.headers,
    });
    expect(collections.json()).toEqual({
      items: [{ id: result.datasetId, name: expect.stringMatching(/^Documents /), documents: 4 }],
    });

    // Uploading into the collection again: known content is skipped.
    const more = await upload(
      [
        { name: 'copy.pdf', bytes: invoice },
        { name: 'new.txt', bytes: 'new' },
      ],
      `?datasetId=${result.datasetId}`,
    );
    expect(more.statusCode).toBe(202);
    expect(more.json()).toMatchObject({
      datasetId: result.datasetId,
      duplicates: [{ name: 'copy.pdf', duplicateOf: 'invoice.pdf' }],
    });
    expect(more.json().documents).toHaveLength(1);
    // Nothing new at all: nothing to do, and no error.
    const only = await upload(
      [{ name: 'third.pdf', bytes: invoice }],
      `?datasetId=${result.datasetId}`,
    );
    expect(only.statusCode).toBe(202);
    expect(only.json()).toMatchObject({ documents: [], duplicates: [{ name: 'third.pdf' }] });
  });

  it("reads a collection for work over its documents: what each needs in the collection's order, and their text in batches", async () => {
    const response = await upload([
      { name: 'first.txt', bytes: 'Invoice 1\nTotal 10 EUR' },
      { name: 'second.txt', bytes: 'Invoice 2\nTotal 20 EUR' },
      { name: 'third.txt', bytes: 'Invoice 3\nTotal 30 EUR' },
    ]);
    const { datasetId } = response.json() as { datasetId: string };
    const listed = await eventually(
      () => list(datasetId) as Promise<{ items: { status: string }[] }>,
      (value) => value.items.every((item) => item.status === 'ready'),
      { what: 'every document extracted' },
    );
    const documents = t.app.features.documents.documents;
    const reader = await documents.collectionReader(
      members.viewer.actor,
      members.project.id,
      datasetId,
    );
    // Only what the work needs of each document, in the order `list` gives.
    expect(reader.documents).toEqual(
      (listed.items as { id: string; name: string; status: string; rowId: string | null }[]).map(
        ({ id, name, status, rowId }) => ({ id, name, status, rowId }),
      ),
    );
    const [first, , third] = reader.documents;
    const pages = await reader.pages([first!, third!]);
    expect([...pages.entries()]).toEqual([
      [first!.id, ['Invoice 1\nTotal 10 EUR']],
      [third!.id, ['Invoice 3\nTotal 30 EUR']],
    ]);
    // Someone outside the project gets nothing, not even the listing.
    await expect(
      documents.collectionReader(members.outsider.actor, members.project.id, datasetId),
    ).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('keeps nothing when a file or the batch is over its limit, and refuses viewers and non-collections', async () => {
    const blobs = () =>
      readdirSync(path.join(t.platform.config.dataDir, 'documents', 'blobs')).length;
    const incoming = () =>
      readdirSync(path.join(t.platform.config.dataDir, 'documents', 'incoming'));
    const before = blobs();
    const datasets = async () =>
      (
        await t.app.inject({
          method: 'GET',
          url: `/api/projects/${members.project.id}/datasets`,
          headers: members.editor.headers,
        })
      ).json().items.length;
    const datasetsBefore = await datasets();
    const big = await upload([
      { name: 'ok.txt', bytes: 'fine' },
      { name: 'big.txt', bytes: 'x'.repeat(65 * 1024) },
    ]);
    expect(big.statusCode).toBe(413);
    expect(big.json()).toMatchObject({
      error: { code: 'PAYLOAD_TOO_LARGE', message: expect.stringContaining('big.txt') },
    });
    const batch = await upload(
      Array.from({ length: 4 }, (_, index) => ({
        name: `part${index}.txt`,
        bytes: `${index}`.repeat(60 * 1024),
      })),
    );
    expect(batch.statusCode).toBe(413);
    expect(blobs()).toBe(before);
    expect(incoming()).toEqual([]);
    expect(await datasets()).toBe(datasetsBefore);

    expect((await upload([{ name: 'a.txt', bytes: 'a' }], '', members.viewer)).statusCode).toBe(
      403,
    );
    const plain = (
      await t.app.inject({
        method: 'POST',
        url: `/api/projects/${members.project.id}/datasets`,
        headers: members.editor.headers,
        payload: { name: 'Plain', columns: [{ name: 'x' }] },
      })
    ).json();
    const notCollection = await upload([{ name: 'a.txt', bytes: 'a' }], `?datasetId=${plain.id}`);
    expect(notCollection.statusCode).toBe(400);
    expect(notCollection.json()).toMatchObject({
      error: { code: 'VALIDATION_ERROR', details: { issues: [{ path: 'datasetId' }] } },
    });
    const none = await t.app.inject({
      method: 'POST',
      url: base(),
      headers: { ...members.editor.headers, 'content-type': 'application/json' },
      payload: {},
    });
    expect(none.statusCode).toBe(415);
  });
});
