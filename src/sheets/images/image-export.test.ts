import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import ExcelJS from 'exceljs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectPerSuite, testAppPerSuite } from '../../../test/per-suite.ts';
import { bufferZipReader, inflateZipEntry, listZipEntries } from '../../platform/zip.ts';
import type { ImageReference } from './image-reference.ts';
import {
  petsDataset,
  pngBomb,
  SCRIPTED_SVG,
  solidImage,
  storedImage,
} from './image-test-fixtures.ts';
import { createZipWriter, isSafeZipName } from './image-zip-writer.ts';

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

describe('exports keeping images', () => {
  const t = testAppPerSuite();
  const members = projectPerSuite(t);
  const other = projectPerSuite(t);
  let datasetId: string;
  let png: Buffer;
  let jpeg: Buffer;
  let secret: Buffer;
  const dir = mkdtempSync(path.join(tmpdir(), 'image-export-'));

  beforeAll(async () => {
    png = await solidImage('png', { width: 40, height: 30 });
    jpeg = await solidImage('jpeg', { colour: { r: 10, g: 200, b: 10 } });
    secret = await solidImage('png', { colour: { r: 1, g: 2, b: 3 } });
    const cat = await storedImage(t, members.project.id, 'cat.png', png);
    const dog = await storedImage(t, members.project.id, 'dog.jpg', jpeg);
    const forged = await storedImage(t, other.project.id, 'secret.png', secret);
    datasetId = await petsDataset(t, members.owner.actor, members.project.id, [
      [cat, 'a cat'],
      [dog, 'a dog'],
      // A name a cell may hold (it is data), aimed at the extracting machine's disk.
      [{ ...cat, name: '../../../../tmp/evil/..\\..\\x.png' }, 'hostile name'],
      // Another project's image: exported as null, its bytes never read.
      [forged, 'forged'],
      [null, 'no image'],
    ]);
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  const download = (format: string, who = members.viewer, project = members.project.id) =>
    t.app.inject({
      method: 'GET',
      url: `/api/projects/${project}/datasets/${datasetId}/export/images?format=${format}`,
      headers: who.headers,
    });

  it('ZIP: data.csv names each image file under images/, and the files hold the bytes', async () => {
    const response = await download('csv');
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('application/zip');
    expect(response.headers['content-disposition']).toContain('Pets.zip');
    const zip = response.rawPayload;
    const read = bufferZipReader(zip);
    const entries = listZipEntries(read, zip.length);
    const files = new Map(
      entries.map((entry) => [entry.name, inflateZipEntry(entry, read, 10_000_000)]),
    );
    const catPath = `images/${sha256(png).slice(0, 12)}-cat.png`;
    const dogPath = `images/${sha256(jpeg).slice(0, 12)}-dog.jpg`;
    const evilPath = `images/${sha256(png).slice(0, 12)}-_.._.._.._tmp_evil_.._.._x.png`;
    expect([...files.keys()].sort()).toEqual(['data.csv', catPath, dogPath, evilPath].sort());
    expect(files.get(catPath)!.equals(png)).toBe(true);
    expect(files.get(dogPath)!.equals(jpeg)).toBe(true);
    const csv = files.get('data.csv')!.toString('utf8').trim().split('\n');
    expect(csv).toEqual([
      'Photo,Caption',
      `${catPath},a cat`,
      `${dogPath},a dog`,
      `${evilPath},hostile name`,
      ',forged',
      ',no image',
    ]);
    // The other project's bytes are nowhere in the archive.
    expect(zip.includes(secret)).toBe(false);
  });

  it('XLSX: a ZIP of data.xlsx whose image cells hold the file names, and the files', async () => {
    const response = await download('xlsx');
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('application/zip');
    const zip = response.rawPayload;
    const read = bufferZipReader(zip);
    const files = new Map(
      listZipEntries(read, zip.length).map((entry) => [
        entry.name,
        inflateZipEntry(entry, read, 10_000_000),
      ]),
    );
    const catPath = `images/${sha256(png).slice(0, 12)}-cat.png`;
    expect(files.get(catPath)!.equals(png)).toBe(true);
    const workbook = new ExcelJS.Workbook();
    await workbook.xlsx.load(files.get('data.xlsx')! as never);
    const sheet = workbook.worksheets[0]!;
    const values = sheet.getSheetValues().slice(1) as unknown[][];
    expect(values.map((row) => [row[1] ?? null, row[2]])).toEqual([
      ['Photo', 'Caption'],
      [catPath, 'a cat'],
      [`images/${sha256(jpeg).slice(0, 12)}-dog.jpg`, 'a dog'],
      [`images/${sha256(png).slice(0, 12)}-_.._.._.._tmp_evil_.._.._x.png`, 'hostile name'],
      [null, 'forged'],
      [null, 'no image'],
    ]);
  });

  it('attack: no entry name can leave the archive root, whatever the cells hold', async () => {
    const response = await download('jsonl');
    const zip = response.rawPayload;
    const entries = listZipEntries(bufferZipReader(zip), zip.length);
    expect(entries.length).toBe(4);
    for (const entry of entries) {
      expect(isSafeZipName(entry.name)).toBe(true);
      expect(entry.name.split('/')).not.toContain('..');
      expect(entry.name).toMatch(/^(data\.jsonl|images\/[0-9a-f]{12}-[A-Za-z0-9._-]+)$/);
    }
    // The writer refuses unsafe names itself, whoever builds them.
    const writer = createZipWriter(path.join(dir, 'unsafe.zip'));
    for (const name of ['../x', '/etc/passwd', 'a/../../b', 'a\\..\\b', 'c:x', 'a//b', '.', ''])
      await expect(writer.addFile(name, path.join(dir, 'none'))).rejects.toThrow(/unsafe/);
    writer.abort();
  });

  it('ZIP entries carry correct CRCs (stored and deflated)', async () => {
    const source = path.join(dir, 'data.txt');
    writeFileSync(source, 'hello '.repeat(1_000));
    const target = path.join(dir, 'check.zip');
    const writer = createZipWriter(target);
    await writer.addFile('data.txt', source, { deflate: true });
    await writer.addFile('images/a.png', source);
    await writer.finish();
    const zip = readFileSync(target);
    const read = bufferZipReader(zip);
    const entries = listZipEntries(read, zip.length);
    expect(entries.map((entry) => entry.method)).toEqual([8, 0]);
    // Each central directory record's CRC-32 is its bytes' own.
    let at = zip.readUInt32LE(zip.length - 22 + 16);
    for (const entry of entries) {
      const bytes = inflateZipEntry(entry, read, 1_000_000);
      expect(bytes.toString()).toBe('hello '.repeat(1_000));
      expect(zip.readUInt32LE(at)).toBe(0x02014b50);
      expect(zip.readUInt32LE(at + 16)).toBe(crc32(bytes));
      at += 46 + zip.readUInt16LE(at + 28);
    }
  });

  it('Parquet: image columns are {bytes, path} structs with the bytes unchanged (Hugging Face Image)', async () => {
    const response = await download('parquet');
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('application/vnd.apache.parquet');
    const file = path.join(dir, 'pets.parquet');
    writeFileSync(file, response.rawPayload);
    const rows = await t.platform.duckdb.query<{
      bytes: string | null;
      path: string | null;
      caption: string;
    }>(
      `select hex("Photo".bytes) as bytes, "Photo".path as path, "Caption" as caption from read_parquet('${file}')`,
    );
    expect(rows.map((row) => row.caption)).toEqual([
      'a cat',
      'a dog',
      'hostile name',
      'forged',
      'no image',
    ]);
    expect(rows[0]!.bytes).toBe(png.toString('hex').toUpperCase());
    expect(rows[0]!.path).toBe(`${sha256(png).slice(0, 12)}-cat.png`);
    expect(rows[1]!.bytes).toBe(jpeg.toString('hex').toUpperCase());
    expect(rows[3]).toMatchObject({ bytes: null, path: null });
    expect(rows[4]).toMatchObject({ bytes: null, path: null });
    const metadata = await t.platform.duckdb.query<{ key: string; value: string }>(
      `select decode(key) as key, decode(value) as value from parquet_kv_metadata('${file}')`,
    );
    const hub = metadata.find((entry) => entry.key === 'huggingface');
    expect(JSON.parse(hub!.value)).toEqual({ info: { features: { Photo: { _type: 'Image' } } } });
  });

  /** Imports a file as the editor would (upload, start, run here) and reads the dataset back. */
  async function importFile(bytes: Buffer, filename: string) {
    const imports = t.app.features.sheets.imports;
    const actor = members.editor.actor;
    const upload = await imports.createUpload(actor, members.project.id, {
      body: (async function* () {
        yield bytes;
      })(),
      filename,
      options: {},
    });
    await imports.startImport(actor, members.project.id, upload.id, undefined, false);
    const result = (await imports.executeImport(upload.id))!;
    expect(result.status).toBe('succeeded');
    const sheets = t.app.features.sheets.sheets;
    const dataset = await sheets.getDataset(actor, members.project.id, result.datasetId!);
    const window = await sheets.readWindow(actor, members.project.id, result.datasetId!, {
      limit: 100,
    });
    const photo = dataset.columns.find((column) => column.name === 'Photo')!;
    return {
      result,
      photo,
      cells: window.rows.map(
        (row) =>
          row.cells[photo.id] as {
            value: ImageReference | null;
            status: string | null;
            error: string | null;
            raw: string | null;
          },
      ),
    };
  }

  it('Parquet round trip: importing the export gives an image column with identical bytes', async () => {
    const exported = (await download('parquet')).rawPayload;
    const { photo, cells } = await importFile(exported, 'pets.parquet');
    expect(photo.type).toBe('image');
    expect(cells.map((cell) => cell.value?.sha256 ?? null)).toEqual([
      sha256(png),
      sha256(jpeg),
      sha256(png),
      null,
      null,
    ]);
    expect(cells[0]!.value).toMatchObject({ mediaType: 'image/png', width: 40, height: 30 });
    const blobs = t.app.features.images.blobs;
    expect(readFileSync(blobs.originalPath(cells[0]!.value!.sha256)).equals(png)).toBe(true);
    expect(readFileSync(blobs.originalPath(cells[1]!.value!.sha256)).equals(jpeg)).toBe(true);
    // Exported again, the bytes are the same ones.
    expect(cells.every((cell) => cell.error === null)).toBe(true);
  });

  it('attack: a Parquet image struct holding a bomb, a non-image, a path only or an SVG — refused per row with the reason, or kept off the page', async () => {
    const file = path.join(dir, 'hostile.parquet');
    const bomb = await pngBomb();
    const hex = (bytes: Buffer) => `from_hex('${bytes.toString('hex')}')`;
    await t.platform.duckdb.withConnection((connection) =>
      connection.run(
        `copy (select * from (values
          (1, struct_pack(bytes := ${hex(png)}, path := 'ok.png')),
          (2, struct_pack(bytes := ${hex(bomb)}, path := 'bomb.png')),
          (3, struct_pack(bytes := ${hex(Buffer.from('MZ not an image at all'))}, path := 'x.exe')),
          (4, struct_pack(bytes := null::blob, path := 'http://169.254.169.254/latest/meta-data')),
          (5, struct_pack(bytes := ${hex(SCRIPTED_SVG)}, path := 'evil.svg')),
          (6, null)
        ) t(n, "Photo")) to '${file}' (format parquet)`,
      ),
    );
    const { result, photo, cells } = await importFile(readFileSync(file), 'hostile.parquet');
    expect(photo.type).toBe('image');
    expect(cells[0]!.value?.sha256).toBe(sha256(png));
    expect(cells[1]).toMatchObject({ value: null, status: 'error', raw: 'bomb.png' });
    expect(cells[1]!.error).toMatch(/declares 100000×100000 pixels/);
    expect(cells[2]).toMatchObject({ value: null, status: 'error', raw: 'x.exe' });
    expect(cells[3]).toMatchObject({
      value: null,
      status: 'error',
      error: 'The image has no bytes, only a path (a path is never fetched)',
    });
    expect(cells[5]).toMatchObject({ value: null, error: null });
    expect(result.conversions).toEqual([
      expect.objectContaining({ column: 'Photo', type: 'image', failed: 3 }),
    ]);
    // The SVG is stored (it is an image) but never served inline: an attachment, script and all.
    const svg = cells[4]!.value!;
    expect(svg.mediaType).toBe('image/svg+xml');
    const served = await t.app.inject({
      method: 'GET',
      url: `/api/projects/${members.project.id}/images/${svg.sha256}`,
      headers: members.viewer.headers,
    });
    expect(served.headers['content-disposition']).toMatch(/^attachment/);
    expect(served.headers['content-security-policy']).toContain('sandbox');
  });

  it('answers 404 to a member of another project, 400 for an unknown format', async () => {
    expect((await download('csv', other.viewer)).statusCode).toBe(404);
    expect((await download('pdf')).statusCode).toBe(400);
  });
});
