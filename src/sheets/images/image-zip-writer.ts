import { once } from 'node:events';
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { crc32, createDeflateRaw } from 'node:zlib';

/**
 * A small streaming ZIP writer (PKWARE APPNOTE 6.3.10): each entry is written from a file on
 * disk, stored (images are compressed already) or deflated, followed by a data descriptor
 * (bit 3), then the central directory. No ZIP64: an archive is refused past 65,535 entries or
 * 4 GiB, with a message (Parquet has no such limit). Entry names are checked here, whoever
 * made them: relative, `/`-separated, no `..`, `.`, empty or absolute segment, no backslash or
 * control character — a name can never point outside the archive's root when extracted.
 */
export const ZIP_MAX_ENTRIES = 65_535;
export const ZIP_MAX_BYTES = 0xffff_ffff;

// biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
const UNSAFE_NAME = /[\u0000-\u001f\u007f\\:]/;

/** True when `name` stays inside the archive's root wherever it is extracted. */
export function isSafeZipName(name: string): boolean {
  if (name === '' || name.length > 1_000 || UNSAFE_NAME.test(name) || name.startsWith('/'))
    return false;
  return name.split('/').every((segment) => segment !== '' && segment !== '.' && segment !== '..');
}

export class ZipLimitError extends Error {}

interface CentralEntry {
  name: Buffer;
  method: number;
  crc: number;
  compressed: number;
  size: number;
  offset: number;
}

export interface ZipWriter {
  addFile(name: string, path: string, options?: { deflate?: boolean }): Promise<void>;
  /** Writes the central directory and closes the file. */
  finish(): Promise<void>;
  /** Closes the file without finishing it (the caller removes it). */
  abort(): void;
}

export function createZipWriter(target: string): ZipWriter {
  const out: WriteStream = createWriteStream(target, { flags: 'wx', mode: 0o600 });
  const entries: CentralEntry[] = [];
  let offset = 0;

  const write = async (bytes: Buffer) => {
    offset += bytes.length;
    if (offset > ZIP_MAX_BYTES)
      throw new ZipLimitError('The archive would pass 4 GiB; export as Parquet instead');
    if (!out.write(bytes)) await once(out, 'drain');
  };

  return {
    async addFile(name, path, options = {}) {
      if (!isSafeZipName(name)) throw new Error(`unsafe ZIP entry name ${JSON.stringify(name)}`);
      if (entries.length >= ZIP_MAX_ENTRIES)
        throw new ZipLimitError(
          `The archive would hold more than ${ZIP_MAX_ENTRIES} files; export as Parquet instead`,
        );
      const encoded = Buffer.from(name, 'utf8');
      const method = options.deflate ? 8 : 0;
      const start = offset;
      const header = Buffer.alloc(30);
      header.writeUInt32LE(0x04034b50, 0);
      header.writeUInt16LE(20, 4); // version needed: 2.0
      header.writeUInt16LE(0x0808, 6); // bit 3: sizes in the data descriptor; bit 11: UTF-8 name
      header.writeUInt16LE(method, 8);
      header.writeUInt32LE(0x00210000, 10); // 1980-01-01 00:00 (no clock in the archive)
      header.writeUInt16LE(encoded.length, 26);
      await write(Buffer.concat([header, encoded]));
      let crc = 0;
      let size = 0;
      let compressed = 0;
      const source = createReadStream(path);
      if (method === 0) {
        for await (const chunk of source as AsyncIterable<Buffer>) {
          crc = crc32(chunk, crc);
          size += chunk.length;
          compressed += chunk.length;
          await write(chunk);
        }
      } else {
        const deflate = createDeflateRaw();
        const feeding = (async () => {
          for await (const chunk of source as AsyncIterable<Buffer>) {
            crc = crc32(chunk, crc);
            size += chunk.length;
            if (!deflate.write(chunk)) await once(deflate, 'drain');
          }
          deflate.end();
        })();
        for await (const chunk of deflate as AsyncIterable<Buffer>) {
          compressed += chunk.length;
          await write(chunk);
        }
        await feeding;
      }
      if (size > ZIP_MAX_BYTES)
        throw new ZipLimitError('A file would pass 4 GiB; export as Parquet instead');
      const descriptor = Buffer.alloc(16);
      descriptor.writeUInt32LE(0x08074b50, 0);
      descriptor.writeUInt32LE(crc >>> 0, 4);
      descriptor.writeUInt32LE(compressed, 8);
      descriptor.writeUInt32LE(size, 12);
      await write(descriptor);
      entries.push({ name: encoded, method, crc: crc >>> 0, compressed, size, offset: start });
    },

    async finish() {
      const directoryStart = offset;
      for (const entry of entries) {
        const record = Buffer.alloc(46);
        record.writeUInt32LE(0x02014b50, 0);
        record.writeUInt16LE(0x0314, 4); // made by: UNIX, 2.0
        record.writeUInt16LE(20, 6);
        record.writeUInt16LE(0x0808, 8);
        record.writeUInt16LE(entry.method, 10);
        record.writeUInt32LE(0x00210000, 12);
        record.writeUInt32LE(entry.crc, 16);
        record.writeUInt32LE(entry.compressed, 20);
        record.writeUInt32LE(entry.size, 24);
        record.writeUInt16LE(entry.name.length, 28);
        record.writeUInt32LE((0o100644 << 16) >>> 0, 38); // a regular file, rw-r--r--
        record.writeUInt32LE(entry.offset, 42);
        await write(Buffer.concat([record, entry.name]));
      }
      const end = Buffer.alloc(22);
      end.writeUInt32LE(0x06054b50, 0);
      end.writeUInt16LE(entries.length, 8);
      end.writeUInt16LE(entries.length, 10);
      end.writeUInt32LE(offset - directoryStart, 12);
      end.writeUInt32LE(directoryStart, 16);
      await write(end);
      out.end();
      await once(out, 'finish');
    },

    abort() {
      out.destroy();
    },
  };
}
