import { inflateRawSync } from 'node:zlib';

/** One file of a ZIP as its central directory lists it (where its data starts, how packed). */
export interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  /** The offset of the entry's (compressed) data in the archive. */
  dataOffset: number;
}

/** Reads `length` bytes at `offset` of an archive: a Buffer's slice, or a file's pread. */
export type ZipReader = (offset: number, length: number) => Buffer;

/** Thrown when an entry inflates past the bytes it may have. */
export class ZipEntryTooLargeError extends Error {}

/**
 * The entries of a ZIP read through `read` (the archive is `size` bytes), from its central
 * directory, without unpacking anything: a file-backed reader keeps memory at the directory's
 * size whatever the archive's. Throws with the reason when the archive is not one we read
 * (ZIP64, encryption, a broken directory).
 */
export function listZipEntries(read: ZipReader, size: number): ZipEntry[] {
  const eocd = findEndOfCentralDirectory(read, size);
  if (eocd < 0) throw new Error('not a ZIP archive (no end of central directory)');
  const end = read(eocd, 22);
  const count = end.readUInt16LE(10);
  const directorySize = end.readUInt32LE(12);
  let offset = end.readUInt32LE(16);
  if (count === 0xffff || offset === 0xffffffff) throw new Error('ZIP64 archives are not read');
  if (offset + directorySize > size) throw new Error('a broken ZIP central directory');
  const directory = read(offset, directorySize);
  const base = offset;
  const entries: ZipEntry[] = [];
  for (let index = 0; index < count; index++) {
    const at = offset - base;
    if (at + 46 > directory.length || directory.readUInt32LE(at) !== 0x02014b50)
      throw new Error('a broken ZIP central directory');
    const flags = directory.readUInt16LE(at + 8);
    const method = directory.readUInt16LE(at + 10);
    const compressedSize = directory.readUInt32LE(at + 20);
    const nameLength = directory.readUInt16LE(at + 28);
    const extraLength = directory.readUInt16LE(at + 30);
    const commentLength = directory.readUInt16LE(at + 32);
    const local = directory.readUInt32LE(at + 42);
    if (flags & 0x1) throw new Error('encrypted ZIP entries are not read');
    if (local + 30 > size) throw new Error('a broken ZIP entry');
    const header = read(local, 30);
    if (header.readUInt32LE(0) !== 0x04034b50) throw new Error('a broken ZIP entry');
    const dataOffset = local + 30 + header.readUInt16LE(26) + header.readUInt16LE(28);
    if (dataOffset + compressedSize > size) throw new Error('a broken ZIP entry');
    entries.push({
      name: directory.toString('utf8', at + 46, at + 46 + nameLength),
      method,
      compressedSize,
      dataOffset,
    });
    offset += 46 + nameLength + extraLength + commentLength;
  }
  return entries;
}

/**
 * One entry's bytes, inflated with zlib's `maxOutputLength`: what counts is what the data
 * really inflates to, not the size the archive declares (a ZIP bomb lies about that). Throws
 * ZipEntryTooLargeError past `maxBytes`, an Error for data that does not inflate or a method
 * other than store and deflate.
 */
export function inflateZipEntry(entry: ZipEntry, read: ZipReader, maxBytes: number): Buffer {
  // Deflate adds at most 5 bytes per 64 KiB block to data it cannot shrink: packed data longer
  // than that inflates past the limit, so it is refused before it is read into memory.
  const packedLimit = maxBytes + 5 * Math.ceil(maxBytes / 65_535) + 64;
  if (entry.compressedSize > (entry.method === 0 ? maxBytes : packedLimit))
    throw new ZipEntryTooLargeError('the entry is too large');
  const data = read(entry.dataOffset, entry.compressedSize);
  if (entry.method === 0) return data;
  if (entry.method !== 8) throw new Error(`ZIP compression method ${entry.method} is not read`);
  try {
    return inflateRawSync(data, { maxOutputLength: Math.max(1, maxBytes) });
  } catch (error) {
    if ((error as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE')
      throw new ZipEntryTooLargeError('the entry is too large');
    throw new Error('a ZIP entry that does not inflate');
  }
}

/** A reader over an archive held in memory. */
export const bufferZipReader =
  (zip: Buffer): ZipReader =>
  (offset, length) =>
    zip.subarray(offset, offset + length);

/**
 * Checks a ZIP (a DOCX) before any library unpacks it: every entry the central directory
 * lists is inflated here (inflateZipEntry), so what counts is the bytes the data really
 * inflates to. Throws with the reason when an entry or the whole archive inflates past the
 * limit, or the archive is not one we read (ZIP64, encryption, methods other than store and
 * deflate).
 */
export function checkZipInflatedSize(zip: Buffer, maxTotalBytes: number): void {
  const read = bufferZipReader(zip);
  const tooLarge = () =>
    new Error(`it unpacks to more than ${Math.round(maxTotalBytes / 1024 / 1024)} MiB`);
  let total = 0;
  for (const entry of listZipEntries(read, zip.length)) {
    try {
      total += inflateZipEntry(entry, read, maxTotalBytes - total).length;
    } catch (error) {
      if (error instanceof ZipEntryTooLargeError) throw tooLarge();
      throw error;
    }
    if (total > maxTotalBytes) throw tooLarge();
  }
}

function findEndOfCentralDirectory(read: ZipReader, size: number): number {
  // The record is 22 bytes plus a comment of up to 65,535.
  const start = Math.max(0, size - 22 - 0xffff);
  const tail = read(start, size - start);
  for (let at = tail.length - 22; at >= 0; at--)
    if (tail.readUInt32LE(at) === 0x06054b50) return start + at;
  return -1;
}
