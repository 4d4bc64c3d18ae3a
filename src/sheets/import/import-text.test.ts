import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isBinary } from './import-sniff.ts';
import { cleanText, linesAtOffsets, scanText, textEncoding } from './import-text.ts';
import { unescapedQuoteLine } from './import-warnings.ts';

const MIB = 1024 * 1024;

describe('text scans and cleaned copies', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'bc-import-text-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const file = (name: string, content: Buffer | string) => {
    const target = path.join(dir, name);
    writeFileSync(target, content);
    return target;
  };

  it('counts line ends, NULs and bad UTF-8 lines across 1 MiB read chunks', async () => {
    // A CRLF split by the chunk boundary: the CR is the last byte of the first chunk.
    const first = `${'a'.repeat(MIB - 1)}\r`;
    const source = file(
      'split.csv',
      Buffer.concat([
        Buffer.from(first),
        Buffer.from('\nb\u0000c\nd\re\n'),
        Buffer.from([0x66, 0xe9, 0x0a]), // "fé" in Latin-1, line 5
        Buffer.from('gé\n'),
      ]),
    );
    const scan = await scanText(source);
    expect(scan).toMatchObject({
      crlf: 1,
      lf: 4,
      cr: 1,
      nulBytes: 1,
      nulLines: [2],
      invalidUtf8: 1,
      invalidUtf8Lines: [5],
      validNonAscii: 1,
      lines: 6,
    });
    expect(textEncoding(scan)).toBe('utf-8');
    const target = path.join(dir, 'clean.csv');
    await cleanText(source, target, scan, 10 * MIB);
    const cleaned = readFileSync(target);
    expect(cleaned.subarray(MIB - 1, MIB + 4).toString('latin1')).toBe('\nbc\nd');
    expect(cleaned.includes(0)).toBe(false);
    expect(cleaned.includes(13)).toBe(false);
    expect(cleaned.toString('latin1').split('\n')).toHaveLength(7);
  });

  it('checks UTF-8 on whole lines longer than a read, split inside a character', async () => {
    // Line 1 spans three reads and has "é" (2 bytes) cut by the first read's end; line 2 is
    // Latin-1 and line 3 valid UTF-8 again.
    const source = file(
      'long.csv',
      Buffer.concat([
        Buffer.from('a'.repeat(MIB - 1)),
        Buffer.from('é'),
        Buffer.from(`${'b'.repeat(2 * MIB)}\n`),
        Buffer.from([0x66, 0xe9, 0x0a]),
        Buffer.from('ü\n'),
      ]),
    );
    expect(await scanText(source)).toMatchObject({
      lf: 3,
      lines: 3,
      invalidUtf8: 1,
      invalidUtf8Lines: [2],
      validNonAscii: 2,
    });
  });

  it('reads a file as Latin-1 only when no non-ASCII line is UTF-8', async () => {
    const latin = await scanText(file('latin.csv', Buffer.from('a\nZürich\nMalmö\n', 'latin1')));
    expect(latin).toMatchObject({ invalidUtf8: 2, invalidUtf8Lines: [2, 3], validNonAscii: 0 });
    expect(textEncoding(latin)).toBe('latin-1');
    expect(textEncoding(await scanText(file('ascii.csv', 'a\nb\n')))).toBe('utf-8');
  });

  it('stops a cleaned copy past the cap with 413 and leaves no file', async () => {
    const source = file('big.csv', 'a\r\nb\n'.repeat(1_000));
    const scan = await scanText(source);
    await expect(cleanText(source, path.join(dir, 'out.csv'), scan, 1_000)).rejects.toMatchObject({
      code: 'PAYLOAD_TOO_LARGE',
    });
    expect(readdirSync(dir)).toEqual(['big.csv']);
  });

  it('turns byte positions into line numbers across chunks', async () => {
    const source = file('lines.csv', `${'x'.repeat(MIB + 10)}\nsecond\nthird\n`);
    const lines = await linesAtOffsets(source, [0, MIB + 11, MIB + 18, MIB + 19]);
    expect([...lines.entries()]).toEqual([
      [0, 1],
      [MIB + 11, 2],
      [MIB + 18, 3],
      [MIB + 19, 3],
    ]);
  });

  it('finds the line of a quote inside a quoted field that is not doubled', () => {
    expect(unescapedQuoteLine('a,b\n1,"x ""y"""\n2,"multi\nline"\n', ',')).toBeUndefined();
    expect(unescapedQuoteLine('a,b\n1,"multi\nline"\n2,"the "big" one"\n', ',')).toBe(4);
    expect(unescapedQuoteLine('a;b\n1;"x";"y"\n', ';')).toBeUndefined();
  });

  it('calls a file binary by its share of control bytes, not by one NUL', () => {
    expect(isBinary(Buffer.from('a,b\n1,x\u0000y\n'))).toBe(false);
    expect(isBinary(Buffer.from(Array.from({ length: 1_000 }, (_, i) => i % 256)))).toBe(true);
    expect(isBinary(Buffer.from('tab\tand\r\nform\ffeed and \u001b[0m escape\n'))).toBe(false);
  });
});
