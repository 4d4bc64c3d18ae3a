import { randomFillSync } from 'node:crypto';

/**
 * UUIDv7 (RFC 9562 §5.7): 48-bit Unix milliseconds, then random bits, so ids sort by
 * creation time and index well. Within one millisecond a counter in the random field keeps
 * ids from this process strictly increasing.
 */
let lastMs = 0;
let sequence = 0;
const bytes = new Uint8Array(16);
// Random bytes drawn 4 KiB at a time: one randomFillSync call per 256 ids, not per id.
const pool = new Uint8Array(4096);
let poolOffset = pool.length;
/**
 * The id's text is written into one buffer and read out as one string: no Buffer, hex string
 * and slices per id (a bulk import makes one per file: 100,000 ids were 51 MB of garbage).
 */
const text = Buffer.alloc(36, '-');
const HEX_DIGITS = Buffer.from('0123456789abcdef', 'latin1');
const TEXT_AT = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];

export function uuidv7(now: number = Date.now()): string {
  if (poolOffset === pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  for (let index = 0; index < 16; index++) bytes[index] = pool[poolOffset + index]!;
  poolOffset += 16;
  if (now <= lastMs) {
    sequence = (sequence + 1) & 0xfff;
    if (sequence === 0) lastMs += 1; // 4096 ids in one ms: borrow the next millisecond
    now = lastMs;
  } else {
    lastMs = now;
    sequence = bytes[6]! & 0x07; // start low so the counter has room
  }
  bytes[0] = Math.floor(now / 2 ** 40) & 0xff;
  bytes[1] = Math.floor(now / 2 ** 32) & 0xff;
  bytes[2] = (now >>> 24) & 0xff;
  bytes[3] = (now >>> 16) & 0xff;
  bytes[4] = (now >>> 8) & 0xff;
  bytes[5] = now & 0xff;
  bytes[6] = 0x70 | ((sequence >>> 8) & 0x0f); // version 7 + 4 high bits of the counter
  bytes[7] = sequence & 0xff;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80; // RFC 4122 variant
  for (let index = 0; index < 16; index++) {
    const byte = bytes[index]!;
    text[TEXT_AT[index]!] = HEX_DIGITS[byte >> 4]!;
    text[TEXT_AT[index]! + 1] = HEX_DIGITS[byte & 0x0f]!;
  }
  return text.toString('latin1', 0, 36);
}

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function isUuid(value: string): boolean {
  return UUID_PATTERN.test(value);
}
