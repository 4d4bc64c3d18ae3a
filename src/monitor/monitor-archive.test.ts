import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { crc32, deflateRawSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProjectWithMembers, type ProjectWithMembers } from '../../test/factories.ts';
import { createTestApp, type TestApp } from '../../test/test-platform.ts';
import { type ArchiveKind, type UnpackState, unpackArchive } from './monitor-archive.ts';
import { claudeFiles, multipartFiles, writeClaudeProjects } from './monitor-test-helpers.ts';
import { safeRelativePath } from './monitor-uploads.ts';

// Archives are written here byte by byte, so the tests can also build what no archiver would
// (links, `..` names, bombs).

interface Entry {
  name: string;
  content?: Buffer;
  /** tar type flag ('0' file, '2' symlink, '1' hard link, '5' folder); zip: a Unix symlink. */
  type?: '0' | '1' | '2' | '5';
  linkTarget?: string;
}

function tarHeader(name: string, size: number, type: string, linkTarget = '', prefix = '') {
  const header = Buffer.alloc(512);
  header.write(name, 0, 100, 'utf8');
  header.write('0000644\0', 100);
  header.write('0000000\0', 108);
  header.write('0000000\0', 116);
  header.write(`${size.toString(8).padStart(11, '0')}\0`, 124);
  header.write('00000000000\0', 136);
  header.write('        ', 148);
  header.write(type, 156);
  header.write(linkTarget, 157, 100);
  header.write('ustar\0', 257);
  header.write('00', 263);
  header.write(prefix, 345, 155);
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  return header;
}

const pad = (length: number) => Buffer.alloc((512 - (length % 512)) % 512);

/** ustar, with GNU long-name records for names over 100 bytes (as GNU tar writes them). */
function tar(entries: Entry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const entry of entries) {
    const content = entry.content ?? Buffer.alloc(0);
    if (Buffer.byteLength(entry.name) > 100) {
      const long = Buffer.from(`${entry.name}\0`);
      blocks.push(tarHeader('././@LongLink', long.length, 'L'), long, pad(long.length));
    }
    blocks.push(
      tarHeader(entry.name.slice(0, 100), content.length, entry.type ?? '0', entry.linkTarget),
      content,
      pad(content.length),
    );
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

/** A zip with deflated entries; a `type: '2'` entry is a Unix symbolic link. */
function zip(entries: Entry[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const entry of entries) {
    const name = Buffer.from(entry.name);
    const content =
      entry.type === '2' ? Buffer.from(entry.linkTarget ?? '') : (entry.content ?? Buffer.alloc(0));
    const compressed = deflateRawSync(content);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(8, 8);
    local.writeUInt32LE(crc32(content), 14);
    local.writeUInt32LE(compressed.length, 18);
    local.writeUInt32LE(content.length, 22);
    local.writeUInt16LE(name.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE((3 << 8) | 20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(8, 10);
    central.writeUInt32LE(crc32(content), 16);
    central.writeUInt32LE(compressed.length, 20);
    central.writeUInt32LE(content.length, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(((entry.type === '2' ? 0o120777 : 0o100644) << 16) >>> 0, 38);
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, compressed);
    centrals.push(central, name);
    offset += local.length + name.length + compressed.length;
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}

describe('monitor archive uploads', () => {
  let t: TestApp;
  let team: ProjectWithMembers;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'monitor-archive-'));
  let projects: string;

  beforeAll(async () => {
    ({ projects } = writeClaudeProjects(path.join(dir, 'fixture')));
    t = await createTestApp({ startJobs: false });
    team = await createProjectWithMembers(t);
  });
  afterAll(async () => {
    await t?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const upload = (files: { name: string; content: Buffer }[]) => {
    const body = multipartFiles(files);
    return t.app.inject({
      method: 'POST',
      url: `/api/projects/${team.project.id}/monitor/uploads`,
      headers: { ...team.editor.headers, 'content-type': body.contentType },
      payload: body.payload,
    });
  };
  const fileCount = async () =>
    (
      await t.app.inject({
        method: 'GET',
        url: `/api/projects/${team.project.id}/monitor/files`,
        headers: team.viewer.headers,
      })
    ).json().items.length as number;

  it('imports a .tar.gz and a .zip of a projects folder like the files themselves', async () => {
    const entries = claudeFiles(projects, './');
    const tarred = await upload([{ name: 'claude.tar.gz', content: gzipSync(tar(entries)) }]);
    expect(tarred.statusCode).toBe(200);
    expect(tarred.json()).toMatchObject({ files: 3, usageEvents: 5, badLines: 3, failed: [] });
    const sessions = await t.app.inject({
      method: 'GET',
      url: `/api/projects/${team.project.id}/monitor/sessions`,
      headers: team.viewer.headers,
    });
    const before = sessions.json().items;
    expect(before.find((row: { agentId: string }) => row.agentId === 'aac57f5').agentType).toBe(
      'Explore',
    );

    const zipped = await upload([{ name: 'claude.zip', content: zip(claudeFiles(projects)) }]);
    expect(zipped.statusCode).toBe(200);
    expect(zipped.json()).toMatchObject({ files: 3, usageEvents: 5, failed: [] });
    // The same logs again: no total changes.
    const after = await t.app.inject({
      method: 'GET',
      url: `/api/projects/${team.project.id}/monitor/sessions`,
      headers: team.viewer.headers,
    });
    expect(after.json().items.map((row: { tokens: unknown }) => row.tokens)).toEqual(
      before.map((row: { tokens: unknown }) => row.tokens),
    );
  });

  const attacks: [string, string, Buffer, RegExp][] = [
    [
      'a tar entry climbing out with ..',
      'evil.tar',
      tar([{ name: '../../escaped.jsonl', content: Buffer.from('{}\n') }]),
      /\.\./,
    ],
    [
      'a tar entry with an absolute path',
      'evil.tar',
      tar([{ name: '/tmp/escaped.jsonl', content: Buffer.from('{}\n') }]),
      /relative/,
    ],
    [
      'a tar symbolic link',
      'evil.tar.gz',
      gzipSync(tar([{ name: 'link.jsonl', type: '2', linkTarget: '/etc/passwd' }])),
      /symbolic link/,
    ],
    [
      'a tar hard link',
      'evil.tgz',
      gzipSync(tar([{ name: 'link.jsonl', type: '1', linkTarget: '/etc/passwd' }])),
      /hard link/,
    ],
    [
      'a zip entry climbing out with ..',
      'evil.zip',
      zip([{ name: 'a/../../escaped.jsonl', content: Buffer.from('{}\n') }]),
      /\.\./,
    ],
    [
      'a zip symbolic link',
      'evil.zip',
      zip([{ name: 'link.jsonl', type: '2', linkTarget: '/etc/passwd' }]),
      /symbolic link/,
    ],
    ['a file that is no archive', 'evil.tar.gz', Buffer.from('not gzip at all'), /tar\.gz/],
    ['a zip that is no zip', 'evil.zip', Buffer.from('PK but not really'), /zip/],
  ];
  for (const [what, name, content, reason] of attacks) {
    it(`refuses ${what}: 400 naming the file, nothing imported or left behind`, async () => {
      const files = await fileCount();
      const response = await upload([
        { name: 'ok/one.jsonl', content: Buffer.from('{}\n') },
        { name, content },
      ]);
      expect(response.statusCode).toBe(400);
      const body = response.json();
      expect(body.error.code).toBe('VALIDATION_ERROR');
      expect(body.error.details.issues[0].path).toBe('files[1]');
      expect(body.error.message).toMatch(reason);
      expect(response.body).not.toContain(dir);
      expect(await fileCount()).toBe(files);
      expect(existsSync(path.join(dir, 'escaped.jsonl'))).toBe(false);
      expect(existsSync('/tmp/escaped.jsonl')).toBe(false);
    });
  }
});

describe('monitor archive limits (zip and gzip bombs)', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'monitor-bomb-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const limits = { maxEntryBytes: 1024 * 1024, maxTotalBytes: 3 * 1024 * 1024, maxEntries: 5 };
  async function unpack(name: string, kind: ArchiveKind, archive: Buffer) {
    const file = path.join(dir, `${name}.archive`);
    const { writeFileSync } = await import('node:fs');
    writeFileSync(file, archive);
    const folder = path.join(dir, name);
    mkdirSync(folder, { recursive: true });
    const state: UnpackState = { entries: 0, bytes: 0, seen: new Set() };
    await unpackArchive(file, kind, {
      archive: 'Uploaded archive 1',
      field: 'files[0]',
      folder,
      limits,
      state,
      checkName: (entry) => safeRelativePath(entry, 0),
    });
    return state;
  }
  const zeros = (bytes: number) => Buffer.alloc(bytes);

  it('unpacks within the limits', async () => {
    const state = await unpack('fine', 'zip', zip([{ name: 'a/b.jsonl', content: zeros(1000) }]));
    expect(state).toMatchObject({ entries: 1, bytes: 1000 });
  });

  it('stops a zip entry inflating past its limit (a 64 MiB bomb of 64 KiB)', async () => {
    const bomb = zip([{ name: 'bomb.jsonl', content: zeros(64 * 1024 * 1024) }]);
    expect(bomb.length).toBeLessThan(200 * 1024);
    await expect(unpack('zip-bomb', 'zip', bomb)).rejects.toMatchObject({
      code: 'PAYLOAD_TOO_LARGE',
    });
  });

  it('stops a zip of many entries under the entry limit but over the total', async () => {
    const entries = [0, 1, 2, 3].map((index) => ({
      name: `part-${index}.jsonl`,
      content: zeros(900 * 1024),
    }));
    await expect(unpack('zip-total', 'zip', zip(entries))).rejects.toMatchObject({
      code: 'PAYLOAD_TOO_LARGE',
    });
  });

  it('stops a gzip bomb as it inflates', async () => {
    const bomb = gzipSync(tar([{ name: 'bomb.jsonl', content: zeros(64 * 1024 * 1024) }]));
    expect(bomb.length).toBeLessThan(200 * 1024);
    await expect(unpack('gzip-bomb', 'tar.gz', bomb)).rejects.toMatchObject({
      code: 'PAYLOAD_TOO_LARGE',
    });
  });

  it('refuses more entries than allowed', async () => {
    const entries = Array.from({ length: 6 }, (_, index) => ({
      name: `f${index}.jsonl`,
      content: Buffer.from('{}\n'),
    }));
    await expect(unpack('many', 'tar', tar(entries))).rejects.toMatchObject({
      code: 'PAYLOAD_TOO_LARGE',
    });
  });

  it('refuses a name sent twice and an archive cut short', async () => {
    const twice = tar([
      { name: 'a.jsonl', content: Buffer.from('{}\n') },
      { name: './a.jsonl', content: Buffer.from('{}\n') },
    ]);
    await expect(unpack('twice', 'tar', twice)).rejects.toMatchObject({
      code: 'VALIDATION_ERROR',
    });
    const whole = tar([{ name: 'cut.jsonl', content: zeros(5000) }]);
    await expect(unpack('cut', 'tar', whole.subarray(0, 1500))).rejects.toMatchObject({
      code: 'VALIDATION_ERROR',
      message: expect.stringMatching(/ends in the middle/),
    });
  });
});
