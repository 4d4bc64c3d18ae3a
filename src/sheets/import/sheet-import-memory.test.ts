import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { writeCsv } from '../../../bench/sheets-bench-helpers.ts';

/**
 * A 1M-row (~95 MiB) CSV through the real import path (service, job code, DuckDB) in a child
 * process, so the memory measured is that import's own (bench/sheets-import-child.ts, shared
 * with the benchmark). The child resets its peak RSS when the import starts: opening the
 * platform (PGlite migrations) peaks higher than the import and would hide it.
 *
 * Measured on 2 threads: the 1M-row file (read on every thread and numbered after,
 * import-reader.ts) adds ~250–280 MiB over the RSS it starts from (2026-12-07; DuckDB's own
 * CREATE TABLE AS read_csv adds ~220–260), a 3M-row file ~470 (DuckDB's own ~340–420,
 * 2026-12-06), while materializing the file as
 * JS rows (`split` into arrays) takes ~590 MiB. BRAINCELLS_TEST_IMPORT_ROWS changes the row count.
 */
const ROWS = Number(process.env.BRAINCELLS_TEST_IMPORT_ROWS ?? 1_000_000);
/**
 * Measured 2026-12-06: 319–335 MiB alone, 357–364 in CI with both cores busy (the child's
 * event log and import progress now go through PGlite, whose memory only grows). Holding the
 * rows in JS takes ~590, so this bound still catches what it guards against.
 */
const GROWTH_BOUND_MIB = 400;
const CHILD = path.join(import.meta.dirname, '../../../bench/sheets-import-child.ts');

describe('import memory', () => {
  it(`imports ${ROWS.toLocaleString('en')} CSV rows while RSS grows by less than ${GROWTH_BOUND_MIB} MiB`, async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'bc-import-memory-'));
    try {
      const file = path.join(dir, 'people.csv');
      const bytes = await writeCsv(file, ROWS);
      if (ROWS >= 1_000_000) expect(bytes).toBeGreaterThan(60 * 1024 * 1024);
      const { stdout } = await promisify(execFile)(process.execPath, [CHILD, 'braincells', file], {
        env: { ...process.env, LOG_LEVEL: 'silent', BRAINCELLS_DUCKDB_THREADS: '2' },
        maxBuffer: 1024 * 1024,
      });
      const result = JSON.parse(stdout.trim().split('\n').pop()!) as {
        ms: number;
        rows: number;
        storedRows: number;
        peakRssMiB: number;
        baseRssMiB: number;
        startupPeakRssMiB: number;
        peakReset: boolean;
      };
      const figures = JSON.stringify(result);
      // Every row arrived, in the import's report and in the table.
      expect(result, figures).toMatchObject({ rows: ROWS, storedRows: ROWS, peakReset: true });
      expect(result.peakRssMiB - result.baseRssMiB, figures).toBeLessThan(GROWTH_BOUND_MIB);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    // A hang guard, not a speed bound: at load ~23 on 2 cores the child alone took ~90 s.
  }, 300_000);
});
