import { mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type FileRead, type FileToRead, startFileReader } from './monitor-reader.ts';

// The read-ahead worker of a bulk import: what it reports for each kind of file, in order,
// across its chunks (256 files each), and that closing it ends it.
describe('monitor read-ahead worker', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'monitor-reader-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const take = async (reader: ReturnType<typeof startFileReader>, index: number) => {
    const read = reader.take(index);
    return read instanceof Promise ? await read : read;
  };

  it('reads files in order across chunks, and reports vanished, known, large and special files', async () => {
    const files: string[] = [];
    for (let index = 0; index < 700; index++) {
      const file = path.join(dir, 'many', `${index}.json`);
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(file, JSON.stringify({ index, text: 'é'.repeat(index % 50) }));
      files.push(file);
    }
    const known = files[3]!;
    const knownInfo = statSync(known);
    const large = path.join(dir, 'large.json');
    writeFileSync(large, 'x'.repeat(2048));
    const folder = path.join(dir, 'folder.json');
    mkdirSync(folder);
    const link = path.join(dir, 'link.json');
    symlinkSync(files[0]!, link);
    const changed = files[4]!;
    const list: FileToRead[] = [
      ...files.map((file) => ({ path: file })),
      { path: path.join(dir, 'missing.json') },
      { path: large },
      { path: folder },
      { path: link },
      // Known before, and its folder is now a file (lstat fails with ENOTDIR): left to the
      // import, whose own lstat says it is gone. It once stopped the worker.
      { path: path.join(files[0]!, 'child.json'), known: { size: 1, mtimeMs: 0 } },
    ];
    list[3] = {
      path: known,
      known: { size: knownInfo.size, mtimeMs: Math.floor(knownInfo.mtimeMs) },
    };
    // A fingerprint that no longer holds: the file is read.
    list[4] = { path: changed, known: { size: 1, mtimeMs: 0 } };
    const reader = startFileReader(list, 1024);
    try {
      const reads: FileRead[] = [];
      for (let index = 0; index < list.length; index++) reads.push(await take(reader, index));
      for (let index = 0; index < files.length; index++) {
        if (index === 3) continue;
        const read = reads[index]!;
        expect(read.kind).toBe('read');
        if (read.kind !== 'read') continue;
        expect(JSON.parse(read.content.toString('utf8'))).toEqual({
          index,
          text: 'é'.repeat(index % 50),
        });
        const info = statSync(files[index]!);
        expect(read.print).toEqual({
          size: info.size,
          mtimeMs: Math.floor(info.mtimeMs),
          ino: info.ino,
        });
      }
      expect(reads[3]).toEqual({
        kind: 'print',
        print: { size: knownInfo.size, mtimeMs: Math.floor(knownInfo.mtimeMs), ino: knownInfo.ino },
      });
      // Missing; over maxBytes, a folder, a symbolic link and a failed lstat are left to the import.
      expect(reads.slice(files.length).map((read) => read.kind)).toEqual([
        'vanished',
        'fallback',
        'fallback',
        'fallback',
        'fallback',
      ]);
    } finally {
      await reader.close();
    }
    // Closed: nothing more comes from it, and the import reads for itself.
    expect(reader.take(0)).toEqual({ kind: 'fallback' });
  });

  it('closes while it still reads ahead, and answers takes after that', async () => {
    const files = Array.from({ length: 3000 }, (_, index) => {
      const file = path.join(dir, 'ahead', `${index}.json`);
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(file, '{}');
      return { path: file };
    });
    const reader = startFileReader(files, 1024);
    expect(await take(reader, 0)).toMatchObject({ kind: 'read' });
    await reader.close();
    await reader.close();
    expect(await take(reader, 2999)).toEqual({ kind: 'fallback' });
  });

  it('reads no further ahead than its byte bound, and never waits for the import forever', async () => {
    // 12 chunks of 1 KiB files, one byte ahead at most: the worker reads a chunk, then waits
    // until the import takes it (the import says so before it waits itself).
    const files = Array.from({ length: 12 * 256 }, (_, index) => {
      const file = path.join(dir, 'bound', `${index}.json`);
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(file, `"${String(index).padStart(1022, '0')}"`);
      return { path: file };
    });
    const reader = startFileReader(files, 1024, { aheadBytes: 1 });
    try {
      for (let index = 0; index < files.length; index++) {
        const read = await take(reader, index);
        expect(read.kind).toBe('read');
        if (read.kind === 'read') expect(Number(JSON.parse(read.content.toString()))).toBe(index);
      }
    } finally {
      await reader.close();
    }
  });

  it('leaves the files past a full chunk to the import', async () => {
    const files = Array.from({ length: 10 }, (_, index) => {
      const file = path.join(dir, 'full', `${index}.json`);
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(file, 'z'.repeat(400));
      return { path: file };
    });
    // 1,000 bytes a chunk: two files of 400 fit, the third would not; the first always fits.
    const reader = startFileReader(files, 1024, { chunkBytes: 1000 });
    try {
      const kinds: string[] = [];
      for (let index = 0; index < files.length; index++)
        kinds.push((await take(reader, index)).kind);
      expect(kinds).toEqual(['read', 'read', ...Array(8).fill('fallback')]);
    } finally {
      await reader.close();
    }
    const single = startFileReader(files.slice(0, 1), 1024, { chunkBytes: 1 });
    try {
      expect(await take(single, 0)).toMatchObject({ kind: 'read' });
    } finally {
      await single.close();
    }
  });
});
