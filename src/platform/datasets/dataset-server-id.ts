import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { uuidv7 } from '../ids.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * This server's id as a dataset owner: made once per data dir and kept in it (the data dir is
 * locked by one process), so a restarted server takes its own leases back at once instead of
 * waiting for them to expire.
 */
export function serverIdFor(dataDir: string): string {
  const file = path.join(dataDir, 'server-id');
  if (existsSync(file)) {
    const id = readFileSync(file, 'utf8').trim();
    if (UUID.test(id)) return id;
  }
  const id = uuidv7();
  writeFileSync(file, `${id}\n`, { mode: 0o600 });
  return id;
}
