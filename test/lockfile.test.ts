import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { completeLockfile } from '../scripts/complete-lockfile.ts';
import { ROOT } from './spawn-server.ts';

describe('package-lock.json', () => {
  it('lists every optional platform binary, so `npm ci` accepts it', () => {
    const lock = JSON.parse(readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8'));
    // If this fails after an `npm install`: run `node scripts/complete-lockfile.ts`.
    expect(completeLockfile(lock)).toEqual([]);
  });
});
