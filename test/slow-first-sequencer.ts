import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * Seconds each of the unit suite's slowest files took in the last CI run (fresh clone, 2 cores,
 * 3 workers, coverage on, 2026-12-07). A file split since has its share of the whole's time by
 * its tests' durations on the dev machine. Only their order matters: the longest start first.
 */
export const SLOW_FILES: Record<string, number> = {
  'test/cli-process.test.ts': 90,
  'test/cluster/cluster.test.ts': 89,
  'test/server-process.test.ts': 75,
  'src/platform/jobs/durable-run-recovery.test.ts': 53,
  'src/auth/route-table-errors.test.ts': 52,
  'src/documents/document-recovery.test.ts': 50,
  'src/auth/auth-routes.test.ts': 45,
  'src/platform/jobs/durable-run.test.ts': 42,
  'src/auth/route-table.test.ts': 41,
  'src/auth/auth-accounts.test.ts': 35,
};

/**
 * Vitest starts the files it timed in an earlier run longest first, but that record lives in
 * node_modules/.vite, which a fresh clone (CI) does not have: there it starts the largest files
 * first, and a short file of long waits (test/server-process.test.ts: 9 KB, 158 s) began a third
 * of the way in and could be the last to end. With no record for some file, the files of
 * SLOW_FILES start first, longest first, then the others in Vitest's own order; with a record
 * for every file, Vitest's order stands.
 */
export class SlowFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const cache = this.ctx.cache;
    if (sorted.every((spec) => cache.getTestSpecificationResult(spec))) return sorted;
    const root = this.ctx.config.root;
    const known = (spec: TestSpecification) =>
      SLOW_FILES[spec.moduleId.slice(root.length + 1)] ?? 0;
    // Array.prototype.sort is stable: the files SLOW_FILES does not name keep Vitest's order.
    return sorted.sort((a, b) => known(b) - known(a));
  }
}
