import { inflateRawSync } from 'node:zlib';

/**
 * Checks a ZIP (a DOCX) before any library unpacks it: every entry the central directory
 * lists is inflated here with zlib's `maxOutputLength`, so what counts is the bytes the data
 * really inflates to, not the sizes the archive declares (a ZIP bomb lies about those). Throws
 * with the reason when an entry or the whole archive inflates past the limit, or the archive
 * is not one we read (ZIP64, encryption, methods other than store and deflate).
 */
export function checkZipInflatedSize(zip: Buffer, maxTotalBytes: number): void {
  const eocd = findEndOfCentralDirectory(zip);
  if (eocd < 0) throw new Error('not a ZIP archive (no end of central directory)');
  const entries = zip.readUInt16LE(eocd + 10);
  let offset = zip.readUInt32LE(eocd + 16);
  if (entries === 0xffff || offset === 0xffffffff) throw new Error('ZIP64 archives are not read');
  let total = 0;
  for (let index = 0; index < entries; index++) {
    if (offset + 46 > zip.length || zip.readUInt32LE(offset) !== 0x02014b50)
      throw new Error('a broken ZIP central directory');
    const flags = zip.readUInt16LE(offset + 8);
    const method = zip.readUInt16LE(offset + 10);
    const compressed = zip.readUInt32LE(offset + 20);
    const nameLength = zip.readUInt16LE(offset + 28);
    const extraLength = zip.readUInt16LE(offset + 30);
    const commentLength = zip.readUInt16LE(offset + 32);
    const local = zip.readUInt32LE(offset + 42);
    if (flags & 0x1) throw new Error('encrypted ZIP entries are not read');
    if (local + 30 > zip.length || zip.readUInt32LE(local) !== 0x04034b50)
      throw new Error('a broken ZIP entry');
    const start = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
    const data = zip.subarray(start, start + compressed);
    const left = maxTotalBytes - total;
    if (method === 0) total += data.length;
    else if (method === 8) {
      try {
        total += inflateRawSync(data, { maxOutputLength: Math.max(1, left) }).length;
      } catch (error) {
        if ((error as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') total = maxTotalBytes + 1;
        else throw new Error('a ZIP entry that does not inflate');
      }
    } else throw new Error(`ZIP compression method ${method} is not read`);
    if (total > maxTotalBytes)
      throw new Error(`it unpacks to more than ${Math.round(maxTotalBytes / 1024 / 1024)} MiB`);
    offset += 46 + nameLength + extraLength + commentLength;
  }
}

function findEndOfCentralDirectory(zip: Buffer): number {
  // The record is 22 bytes plus a comment of up to 65,535.
  for (let at = zip.length - 22; at >= Math.max(0, zip.length - 22 - 0xffff); at--)
    if (zip.readUInt32LE(at) === 0x06054b50) return at;
  return -1;
}
