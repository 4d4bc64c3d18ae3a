import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

// `braincells --help` (and the start of every command) used to load the whole server — the
// features, DuckDB, exceljs, sharp, pdf-lib — ~2 s of CPU per spawn, because main.ts took its
// version from app.ts and the command modules imported features.ts at the top. Commands now
// import what they run when they run. A module-load hook lists every module the process loads.
const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));
const HOOK = `data:text/javascript,${encodeURIComponent(`
import { registerHooks } from 'node:module';
const seen = [];
registerHooks({ load(url, context, next) { seen.push(url); return next(url, context); } });
process.on('exit', () => process.stderr.write('LOADED ' + JSON.stringify(seen) + '\\n'));
`)}`;

async function loadedBy(args: string[]): Promise<string[]> {
  const { stdout, stderr } = await promisify(execFile)(
    process.execPath,
    ['--import', HOOK, MAIN, ...args],
    { env: { ...process.env, BRAINCELLS_DATA_DIR: '/nonexistent-braincells-cli-startup' } },
  );
  expect(stdout).toContain('braincells');
  const line = stderr.split('\n').find((text) => text.startsWith('LOADED '));
  return JSON.parse(line!.slice('LOADED '.length)) as string[];
}

describe('braincells start-up', () => {
  it('prints --help without loading the server, the features or the heavy libraries', async () => {
    const loaded = await loadedBy(['--help']);
    expect(loaded.some((url) => url.endsWith('/src/cli/db-commands.ts'))).toBe(true);
    for (const heavy of [
      '/src/features.ts',
      '/src/app.ts',
      '/src/platform/platform.ts',
      '/src/migrations/index.ts',
      '/node_modules/@duckdb/',
      '/node_modules/exceljs/',
      '/node_modules/sharp/',
      '/node_modules/pdf-lib/',
      '/node_modules/fastify/',
    ]) {
      expect(loaded.filter((url) => url.includes(heavy))).toEqual([]);
    }
    // The whole program with every command's options, in a few hundred modules, not ~2,400.
    expect(loaded.length).toBeLessThan(800);
  });
});
