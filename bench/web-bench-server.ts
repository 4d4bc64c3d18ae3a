/**
 * The server the browser benchmarks drive: embedded defaults in a fresh data dir, rate limits
 * out of the way, logs discarded. The caller closes the server and removes the data dir.
 */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { buildWebIfStale } from '../scripts/build-web.ts';
import { loadConfig } from '../src/platform/config.ts';
import { createLogger } from '../src/platform/logger.ts';
import { type BuiltApp, startServer } from '../src/server.ts';

export async function startWebBenchServer(name: string) {
  await buildWebIfStale({ quiet: true });
  const dataDir = mkdtempSync(path.join(os.tmpdir(), `braincells-bench-${name}-`));
  const config = loadConfig(
    {
      BRAINCELLS_DATA_DIR: dataDir,
      HOST: '127.0.0.1',
      PORT: '0',
      LOG_LEVEL: 'warn',
      BRAINCELLS_RATE_LIMIT_PER_IP: '1000000',
      BRAINCELLS_RATE_LIMIT_PER_USER: '1000000',
    },
    {},
  );
  const quiet = new Writable({ write: (_chunk, _encoding, done) => done() });
  const logger = createLogger({ level: 'warn', format: 'json', destination: quiet });
  let app: BuiltApp | undefined;
  const server = await startServer(config, logger, {
    configure: (built) => {
      app = built;
    },
  });
  return { server, app: app as unknown as BuiltApp, dataDir };
}
