import { createHash } from 'node:crypto';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { cookieOnly } from '../../../test/factories.ts';
import { projectPerSuite, testAppPerSuite } from '../../../test/per-suite.ts';
import { expectImageAnswer } from '../../platform/http/image-headers-test-helpers.ts';
import { multipartFiles } from '../../platform/http/multipart-test-helpers.ts';
import { pngBomb, SCRIPTED_SVG, solidImage, zipOf } from './image-test-fixtures.ts';

const MAX_BYTES = 256 * 1024;
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

describe('image values API', () => {
  const t = testAppPerSuite({
    config: {
      images: {
        maxBytes: MAX_BYTES,
        maxPixels: 4_000_000,
        zipMaxBytes: 4 * 1024 * 1024,
        sweepGraceHours: 24,
      },
    },
  });
  const members = projectPerSuite(t);
  const other = projectPerSuite(t);
  const base = () => `/api/projects/${members.project.id}`;

  const importImages = (
    files: { name: string; bytes: Buffer | string }[],
    who = members.editor,
    project = members.project.id,
  ) => {
    const { body, contentType } = multipartFiles(files);
    return t.app.inject({
      method: 'POST',
      url: `/api/projects/${project}/images/import?name=Photos`,
      headers: { ...who.headers, 'content-type': contentType },
      payload: body,
    });
  };
  const window = async (datasetId: string, project = members.project.id, who = members.viewer) => {
    const read = (url: string) =>
      t.app.inject({
        method: 'GET',
        url: `/api/projects/${project}/datasets/${datasetId}${url}`,
        headers: who.headers,
      });
    return {
      columns: (await read('')).json().columns,
      rows: (await read('/rows?limit=100')).json().rows,
    };
  };

  const datasetCount = async () =>
    (
      await t.app.inject({
        method: 'GET',
        url: `${base()}/datasets`,
        headers: members.viewer.headers,
      })
    ).json().items.length;

  it('adds dropped images to an existing dataset as new rows of its image column', async () => {
    const created = await importImages([{ name: 'first.png', bytes: await solidImage('png') }]);
    const datasetId = created.json().datasetId as string;
    const before = await window(datasetId);
    const [imageColumn, nameColumn] = before.columns;
    const into = (
      query: string,
      files: { name: string; bytes: Buffer | string }[],
      who = members.editor,
    ) => {
      const { body, contentType } = multipartFiles(files);
      return t.app.inject({
        method: 'POST',
        url: `${base()}/images/import?${query}`,
        headers: { ...who.headers, 'content-type': contentType },
        payload: body,
      });
    };
    const red = await solidImage('png', { colour: { r: 200, g: 0, b: 0 } });
    const jpeg = await solidImage('jpeg');
    const dropped = await into(`datasetId=${datasetId}&columnId=${imageColumn.id}`, [
      { name: 'red.png', bytes: red },
      { name: 'fake.png', bytes: 'not an image' },
      { name: 'photo.jpg', bytes: jpeg },
    ]);
    expect(dropped.statusCode, dropped.body).toBe(201);
    expect(dropped.json()).toEqual({
      datasetId,
      imported: 2,
      refused: [{ file: 'fake.png', reason: expect.stringMatching(/^Not an image/) }],
    });
    const after = await window(datasetId);
    expect(after.columns).toHaveLength(2);
    const added = after.rows.slice(1) as { cells: Record<string, { value: unknown }> }[];
    expect(added.map((row) => row.cells[nameColumn.id]!.value)).toEqual(['red.png', 'photo.jpg']);
    expect(added[0]!.cells[imageColumn.id]!.value).toMatchObject({ sha256: sha256(red) });

    // Another column, one half of the pair, a viewer, another project's dataset: refused, nothing added.
    const refusals = [
      [`datasetId=${datasetId}&columnId=${nameColumn.id}`, members.editor, 400],
      [`datasetId=${datasetId}`, members.editor, 400],
      [`datasetId=${datasetId}&columnId=${imageColumn.id}`, members.viewer, 403],
    ] as const;
    for (const [query, who, status] of refusals) {
      const refused = await into(query, [{ name: 'x.png', bytes: red }], who);
      expect(refused.statusCode, query).toBe(status);
      if (status === 400)
        expect(JSON.stringify(refused.json().error.details)).toContain('columnId');
    }
    const upload = multipartFiles([{ name: 'x.png', bytes: red }]);
    const foreign = await t.app.inject({
      method: 'POST',
      url: `/api/projects/${other.project.id}/images/import?datasetId=${datasetId}&columnId=${imageColumn.id}`,
      headers: { ...other.editor.headers, 'content-type': upload.contentType },
      payload: upload.body,
    });
    expect(foreign.statusCode).toBe(404);
    expect((await window(datasetId)).rows).toHaveLength(3);
  });

  it('imports a ZIP of images: one row per image, each refused file listed with its reason', async () => {
    const png = await solidImage('png', { width: 300, height: 200 });
    const jpeg = await solidImage('jpeg', { colour: { r: 10, g: 200, b: 10 } });
    const webp = await solidImage('webp', { colour: { r: 10, g: 10, b: 200 } });
    // An 8 MiB entry of zeros deflates to ~8 KiB: a ZIP bomb for the per-image limit.
    const zip = await zipOf([
      { name: 'photos/cat.png', bytes: png },
      { name: 'photos/dog.jpg', bytes: jpeg },
      { name: 'photos/bird.webp', bytes: webp },
      { name: 'photos/logo.svg', bytes: SCRIPTED_SVG },
      { name: 'photos/broken.png', bytes: Buffer.from('not a png at all') },
      { name: 'photos/bomb.png', bytes: await pngBomb() },
      { name: 'photos/zeros.png', bytes: Buffer.alloc(8 * 1024 * 1024) },
      { name: '__MACOSX/photos/._cat.png', bytes: 'resource fork' },
      { name: 'photos/.DS_Store', bytes: 'finder' },
    ]);
    const response = await importImages([{ name: 'photos.zip', bytes: zip }]);
    expect(response.statusCode, response.body).toBe(201);
    const result = response.json();
    expect(result.imported).toBe(4);
    expect(result.refused).toEqual([
      { file: 'broken.png', reason: expect.stringMatching(/^Not an image this server accepts/) },
      { file: 'bomb.png', reason: expect.stringMatching(/declares 100000×100000 pixels/) },
      { file: 'zeros.png', reason: `The image inflates past the limit of ${MAX_BYTES} bytes` },
    ]);

    const rows = await window(result.datasetId);
    const [imageColumn, nameColumn] = rows.columns;
    expect(imageColumn).toMatchObject({ name: 'Image', type: 'image' });
    expect(nameColumn).toMatchObject({ name: 'File name', type: 'text' });
    const cells = rows.rows.map(
      (row: { cells: Record<string, { value: unknown }> }) => row.cells[imageColumn.id]!.value,
    );
    expect(cells[0]).toEqual({
      sha256: sha256(png),
      mediaType: 'image/png',
      bytes: png.length,
      width: 300,
      height: 200,
      name: 'cat.png',
    });
    expect(cells.map((cell: { mediaType: string }) => cell.mediaType)).toEqual([
      'image/png',
      'image/jpeg',
      'image/webp',
      'image/svg+xml',
    ]);

    // The original comes back byte for byte, cacheable forever under its hash.
    const original = await t.app.inject({
      method: 'GET',
      url: `${base()}/images/${sha256(png)}`,
      headers: members.viewer.headers,
    });
    expectImageAnswer(original, png, 'image/png');
    const again = await t.app.inject({
      method: 'GET',
      url: `${base()}/images/${sha256(png)}`,
      headers: { ...members.viewer.headers, 'if-none-match': `"${sha256(png)}"` },
    });
    expect(again.statusCode).toBe(304);

    const thumbnail = await t.app.inject({
      method: 'GET',
      url: `${base()}/images/${sha256(png)}/thumbnail`,
      headers: members.viewer.headers,
    });
    expect(thumbnail.statusCode).toBe(200);
    expect(thumbnail.headers['content-type']).toBe('image/webp');
    expect(await sharp(thumbnail.rawPayload).metadata()).toMatchObject({
      format: 'webp',
      width: 256,
      height: 171,
    });
  });

  it('never serves SVG inline: attachment, sandboxed, nosniff; its thumbnail is a raster', async () => {
    await importImages([{ name: 'logo.svg', bytes: SCRIPTED_SVG }]);
    const response = await t.app.inject({
      method: 'GET',
      url: `${base()}/images/${sha256(SCRIPTED_SVG)}`,
      headers: members.viewer.headers,
    });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-disposition']).toMatch(/^attachment;/);
    expect(response.headers['content-security-policy']).toBe("default-src 'none'; sandbox");
    expect(response.headers['x-content-type-options']).toBe('nosniff');
    const thumbnail = await t.app.inject({
      method: 'GET',
      url: `${base()}/images/${sha256(SCRIPTED_SVG)}/thumbnail`,
      headers: members.viewer.headers,
    });
    expect(thumbnail.headers['content-type']).toBe('image/webp');
    expect(thumbnail.rawPayload.includes('script')).toBe(false);
  });

  it("answers 404 for another project's image, for outsiders, and for a hash nobody stored", async () => {
    const secret = await solidImage('png', { colour: { r: 1, g: 2, b: 3 } });
    expect((await importImages([{ name: 'secret.png', bytes: secret }])).statusCode).toBe(201);
    const asOther = await t.app.inject({
      method: 'GET',
      url: `/api/projects/${other.project.id}/images/${sha256(secret)}`,
      headers: other.owner.headers,
    });
    expect(asOther.statusCode).toBe(404);
    expect(asOther.json().error.code).toBe('NOT_FOUND');
    for (const url of [
      `${base()}/images/${sha256(secret)}`,
      `${base()}/images/${sha256(secret)}/thumbnail`,
    ]) {
      const outsider = await t.app.inject({
        method: 'GET',
        url,
        headers: members.outsider.headers,
      });
      expect(outsider.statusCode).toBe(404);
    }
    const anonymous = await t.app.inject({
      method: 'GET',
      url: `${base()}/images/${sha256(secret)}/thumbnail`,
    });
    expect(anonymous.statusCode).toBe(401);
    const unknown = await t.app.inject({
      method: 'GET',
      url: `${base()}/images/${'0'.repeat(64)}`,
      headers: members.viewer.headers,
    });
    expect(unknown.statusCode).toBe(404);
    const traversal = await t.app.inject({
      method: 'GET',
      url: `${base()}/images/..%2F..%2Fetc%2Fpasswd`,
      headers: members.viewer.headers,
    });
    expect(traversal.statusCode).toBe(400);
    expect(traversal.json().error.details.issues[0].path).toBe('params.sha256');
  });

  it('serves a thumbnail whole under an immutable URL that changes when the cell’s image does', async () => {
    const created = await t.app.inject({
      method: 'POST',
      url: `${base()}/datasets`,
      headers: members.editor.headers,
      payload: { name: 'Changing', rows: 1, columns: [{ name: 'Photo', type: 'image' }] },
    });
    const dataset = created.json();
    const photo = dataset.columns[0].id as string;
    const rowId = (await window(dataset.id)).rows[0].rowId as string;
    const upload = async (bytes: Buffer, version: number) => {
      const { body, contentType } = multipartFiles([{ name: 'photo.png', bytes }]);
      const response = await t.app.inject({
        method: 'POST',
        url: `${base()}/datasets/${dataset.id}/rows/${rowId}/cells/${photo}/image?expectedVersion=${version}`,
        headers: { ...members.editor.headers, 'content-type': contentType },
        payload: body,
      });
      expect(response.statusCode, response.body).toBe(200);
      return response.json().value.sha256 as string;
    };
    const thumbnailOf = (hash: string, headers: Record<string, string> = {}) =>
      t.app.inject({
        method: 'GET',
        url: `${base()}/images/${hash}/thumbnail`,
        headers: { ...members.viewer.headers, ...headers },
      });
    const first = await upload(await solidImage('png', { colour: { r: 10, g: 200, b: 10 } }), 0);
    const before = await thumbnailOf(first);
    expect(before.statusCode).toBe(200);
    expect(before.headers).toMatchObject({
      'content-type': 'image/webp',
      'content-length': String(before.rawPayload.length),
      etag: `"${first}"`,
      'cache-control': 'private, max-age=31536000, immutable',
      'x-content-type-options': 'nosniff',
      'content-security-policy': "default-src 'none'; sandbox",
    });
    expect((await thumbnailOf(first, { 'if-none-match': `"${first}"` })).statusCode).toBe(304);

    // A new image in the cell is a new URL (its hash); the old URL still names the old bytes.
    const second = await upload(await solidImage('png', { colour: { r: 200, g: 10, b: 10 } }), 1);
    expect(second).not.toBe(first);
    const after = await thumbnailOf(second);
    expect(after.statusCode).toBe(200);
    expect(after.rawPayload.equals(before.rawPayload)).toBe(false);
    expect((await thumbnailOf(first)).rawPayload.equals(before.rawPayload)).toBe(true);
    // The old ETag does not validate the new URL.
    expect((await thumbnailOf(second, { 'if-none-match': `"${first}"` })).statusCode).toBe(200);
  });

  it('answers many thumbnails in one request, leaving out what the project does not hold', async () => {
    const mine = [
      await solidImage('png', { colour: { r: 30, g: 40, b: 50 } }),
      await solidImage('jpeg', { colour: { r: 60, g: 70, b: 80 } }),
      SCRIPTED_SVG,
    ];
    expect(
      (await importImages(mine.map((bytes, at) => ({ name: `m${at}`, bytes })))).statusCode,
    ).toBe(201);
    const theirs = await solidImage('png', { colour: { r: 90, g: 91, b: 92 } });
    const { body, contentType } = multipartFiles([{ name: 'theirs.png', bytes: theirs }]);
    const foreignImport = await t.app.inject({
      method: 'POST',
      url: `/api/projects/${other.project.id}/images/import`,
      headers: { ...other.editor.headers, 'content-type': contentType },
      payload: body,
    });
    expect(foreignImport.statusCode).toBe(201);
    const batch = (hashes: unknown, headers: Record<string, string> = members.viewer.headers) =>
      t.app.inject({
        method: 'POST',
        url: `${base()}/images/thumbnails`,
        headers,
        payload: { sha256: hashes },
      });

    const hashes = mine.map((bytes) => sha256(Buffer.from(bytes)));
    const answer = await batch([...hashes, sha256(theirs), '0'.repeat(64)]);
    expect(answer.statusCode, answer.body).toBe(200);
    const thumbnails = answer.json().thumbnails as {
      sha256: string;
      mediaType: string;
      data: string;
    }[];
    // Another project's image and a hash nobody stored are absent, as a GET answers 404.
    expect(thumbnails.map((thumbnail) => thumbnail.sha256).sort()).toEqual([...hashes].sort());
    for (const thumbnail of thumbnails) {
      expect(thumbnail.mediaType).toBe('image/webp');
      const single = await t.app.inject({
        method: 'GET',
        url: `${base()}/images/${thumbnail.sha256}/thumbnail`,
        headers: members.viewer.headers,
      });
      // The same bytes as the thumbnail's URL: a raster, even for the SVG.
      expect(Buffer.from(thumbnail.data, 'base64').equals(single.rawPayload)).toBe(true);
      expect(single.rawPayload.includes('script')).toBe(false);
    }
    // Asked in the other project with its own member: only its own image.
    const asOther = await t.app.inject({
      method: 'POST',
      url: `/api/projects/${other.project.id}/images/thumbnails`,
      headers: other.owner.headers,
      payload: { sha256: [...hashes, sha256(theirs)] },
    });
    expect(
      asOther.json().thumbnails.map((thumbnail: { sha256: string }) => thumbnail.sha256),
    ).toEqual([sha256(theirs)]);

    // Outsiders, anonymous callers and a cookie without its CSRF token are refused.
    expect((await batch(hashes, members.outsider.headers)).statusCode).toBe(404);
    expect((await batch(hashes, {})).statusCode).toBe(401);
    expect((await batch(hashes, cookieOnly(members.viewer))).statusCode).toBe(403);
    // A forged hash (a path, an upper-case or short one), too many or none: 400 naming the field.
    for (const forged of ['../../etc/passwd', 'A'.repeat(64), 'abc', `${'a'.repeat(63)}/`]) {
      const refused = await batch([hashes[0], forged]);
      expect(refused.statusCode, forged).toBe(400);
      expect(refused.json().error.details.issues[0].path).toBe('body.sha256.1');
    }
    const tooMany = await batch(Array.from({ length: 201 }, () => hashes[0]));
    expect(tooMany.statusCode).toBe(400);
    expect(tooMany.json().error.details.issues[0].path).toBe('body.sha256');
    expect((await batch([])).statusCode).toBe(400);
  });

  it('refuses an import with no image (400 naming file) and a viewer (403), creating nothing', async () => {
    const before = await datasetCount();
    const none = await importImages([{ name: 'notes.txt', bytes: 'just text' }]);
    expect(none.statusCode).toBe(400);
    expect(none.json().error.details.issues[0]).toMatchObject({ path: 'file' });
    const viewer = await importImages(
      [{ name: 'a.png', bytes: await solidImage('png') }],
      members.viewer,
    );
    expect(viewer.statusCode).toBe(403);
    const broken = await importImages([
      {
        name: 'broken.zip',
        bytes: Buffer.concat([Buffer.from('PK\u0003\u0004'), Buffer.alloc(100)]),
      },
    ]);
    expect(broken.statusCode).toBe(400);
    expect(broken.json().error.message).toMatch(/^broken\.zip: not a ZIP archive/);
    const after = await datasetCount();
    expect(after).toBe(before);
  });

  it('writes no row when the upload fails after images were received (a broken ZIP as the last part)', async () => {
    const broken = {
      name: 'broken.zip',
      bytes: Buffer.concat([Buffer.from('PK\u0003\u0004'), Buffer.alloc(100)]),
    };
    const good = await solidImage('png', { colour: { r: 1, g: 2, b: 3 } });
    const before = await datasetCount();
    const failed = await importImages([{ name: 'good.png', bytes: good }, broken]);
    expect(failed.statusCode).toBe(400);
    expect(failed.json().error.message).toMatch(/^broken\.zip: /);
    expect(await datasetCount()).toBe(before);

    const created = await importImages([{ name: 'first.png', bytes: good }]);
    const datasetId = created.json().datasetId as string;
    const { columns, rows } = await window(datasetId);
    const { body, contentType } = multipartFiles([
      { name: 'more.png', bytes: await solidImage('png', { colour: { r: 9, g: 9, b: 9 } }) },
      broken,
    ]);
    const into = await t.app.inject({
      method: 'POST',
      url: `${base()}/images/import?datasetId=${datasetId}&columnId=${columns[0].id}`,
      headers: { ...members.editor.headers, 'content-type': contentType },
      payload: body,
    });
    expect(into.statusCode).toBe(400);
    expect((await window(datasetId)).rows).toHaveLength(rows.length);
  });

  it('uploads an image into a cell at its version; a bad file is 415 naming file and writes nothing', async () => {
    const created = await t.app.inject({
      method: 'POST',
      url: `${base()}/datasets`,
      headers: members.editor.headers,
      payload: {
        name: 'Gallery',
        rows: 1,
        columns: [{ name: 'Photo', type: 'image' }, { name: 'Note' }],
      },
    });
    expect(created.statusCode, created.body).toBe(201);
    const dataset = created.json();
    const [photo, note] = dataset.columns;
    const rows = await window(dataset.id);
    const rowId = rows.rows[0].rowId;
    const upload = (columnId: string, bytes: Buffer, version = 0, name = 'cat.png') => {
      const { body, contentType } = multipartFiles([{ name, bytes }]);
      return t.app.inject({
        method: 'POST',
        url: `${base()}/datasets/${dataset.id}/rows/${rowId}/cells/${columnId}/image?expectedVersion=${version}`,
        headers: { ...members.editor.headers, 'content-type': contentType },
        payload: body,
      });
    };

    const svgAsPng = await upload(photo.id, Buffer.from('<html><script>alert(1)</script></html>'));
    expect(svgAsPng.statusCode).toBe(415);
    expect(svgAsPng.json().error).toMatchObject({
      code: 'UNSUPPORTED_MEDIA_TYPE',
      details: { field: 'file' },
    });
    const huge = await upload(photo.id, Buffer.alloc(MAX_BYTES + 10, 1));
    expect(huge.statusCode).toBe(413);
    const bomb = await upload(photo.id, await pngBomb());
    expect(bomb.statusCode).toBe(415);
    const wrongColumn = await upload(note.id, await solidImage('png'));
    expect(wrongColumn.statusCode).toBe(400);
    expect(wrongColumn.json().error.details.issues[0].path).toBe('columnId');
    expect((await window(dataset.id)).rows[0].cells[photo.id].value).toBeNull();

    const png = await solidImage('png', { colour: { r: 9, g: 9, b: 9 } });
    const ok = await upload(photo.id, png, 0, '../../etc/passwd\u0007.png');
    expect(ok.statusCode, ok.body).toBe(200);
    expect(ok.json()).toMatchObject({
      value: { sha256: sha256(png), mediaType: 'image/png', name: 'passwd.png' },
      version: 1,
    });
    const stale = await upload(photo.id, png, 0);
    expect(stale.statusCode).toBe(409);
  });

  it('refuses a hand-written value that is not a reference, and serves no forged one', async () => {
    const created = (
      await t.app.inject({
        method: 'POST',
        url: `/api/projects/${other.project.id}/datasets`,
        headers: other.owner.headers,
        payload: { name: 'Forged', rows: 1, columns: [{ name: 'Photo', type: 'image' }] },
      })
    ).json();
    const rows = await window(created.id, other.project.id, other.owner);
    const edit = (value: unknown) =>
      t.app.inject({
        method: 'PATCH',
        url: `/api/projects/${other.project.id}/datasets/${created.id}/cells`,
        headers: other.owner.headers,
        payload: {
          rowId: rows.rows[0].rowId,
          columnId: created.columns[0].id,
          expectedVersion: 0,
          value,
        },
      });
    const script = await edit('<img src=x onerror=alert(1)>');
    expect(script.statusCode).toBe(400);
    const badType = await edit({
      sha256: 'a'.repeat(64),
      mediaType: 'text/html',
      bytes: 1,
      width: 1,
      height: 1,
      name: 'x',
    });
    expect(badType.statusCode).toBe(400);
    expect(badType.json().error.details.issues[0].path).toBe('value.mediaType');
    // A well-formed reference to a hash this project does not hold is stored as data, but
    // nothing serves its bytes here.
    const secret = await solidImage('png', { colour: { r: 1, g: 2, b: 3 } });
    const forged = await edit({
      sha256: sha256(secret),
      mediaType: 'image/png',
      bytes: secret.length,
      width: 64,
      height: 48,
      name: 'stolen.png',
    });
    expect(forged.statusCode).toBe(200);
    const read = await t.app.inject({
      method: 'GET',
      url: `/api/projects/${other.project.id}/images/${sha256(secret)}`,
      headers: other.owner.headers,
    });
    expect(read.statusCode).toBe(404);
  });

  it('keeps memory to one entry: a stored (not deflated) entry past the limit is refused unread', async () => {
    // Built by hand: JSZip would deflate it. One stored entry of MAX_BYTES + 1 bytes.
    const data = Buffer.alloc(MAX_BYTES + 1, 0x41);
    const name = Buffer.from('big.png');
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(name.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt32LE(data.length, 20);
    central.writeUInt32LE(data.length, 24);
    central.writeUInt16LE(name.length, 28);
    const directoryOffset = local.length + name.length + data.length;
    const end = Buffer.alloc(22);
    end.writeUInt32LE(0x06054b50, 0);
    end.writeUInt16LE(1, 8);
    end.writeUInt16LE(1, 10);
    end.writeUInt32LE(central.length + name.length, 12);
    end.writeUInt32LE(directoryOffset, 16);
    const zip = Buffer.concat([local, name, data, central, name, end]);
    const png = await solidImage('png', { colour: { r: 5, g: 5, b: 5 } });
    const response = await importImages([
      { name: 'big.zip', bytes: zip },
      { name: 'ok.png', bytes: png },
    ]);
    expect(response.statusCode, response.body).toBe(201);
    expect(response.json()).toMatchObject({
      imported: 1,
      refused: [{ file: 'big.png', reason: expect.stringMatching(/inflates past the limit/) }],
    });
  });
});
