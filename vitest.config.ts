import { defineConfig } from 'vitest/config';
import { SlowFirstSequencer } from './test/slow-first-sequencer.ts';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts', 'tools/**/*.test.ts'],
    exclude: ['test/e2e/**', 'node_modules/**'],
    globalSetup: ['test/global-setup.ts'],
    setupFiles: ['test/setup.ts'],
    env: { TZ: 'UTC' },
    pool: 'forks',
    // Three files at a time. Vitest's default is one fewer than the cores, which is one on the
    // 2-core machines this runs on, and most test time is waiting (fake LLM latency, spawned
    // processes, sandbox round trips, PGlite set-up), not computing: more files fill that time.
    // Two workers ran 156 files in 936 s (2026-12-06, quiet machine); three: see CHANGELOG.
    maxWorkers: 3,
    // The slowest files first, also on a fresh clone with no timings of an earlier run: a long
    // file that starts last sets the suite's end (test/slow-first-sequencer.ts).
    sequence: { sequencer: SlowFirstSequencer },
    // A poll's bound only turns a hang into a failure, never a speed limit (Vitest's default is
    // 1 s): the suite must pass with both cores busy.
    expect: { poll: { timeout: 20_000 } },
    testTimeout: 30_000,
    hookTimeout: 60_000,
    teardownTimeout: 30_000,
    // V8 coverage of the server code, on with `--coverage` (npm test, CI); one file's run
    // (`npx vitest run src/x.test.ts`) stays fast and is not held to the floor.
    coverage: {
      provider: 'v8',
      include: ['src/**/*.ts'],
      exclude: ['src/**/*.test.ts', 'src/**/*-test-helpers.ts', 'src/**/*-test-env.ts'],
      reporter: ['text-summary', 'json-summary'],
      reportsDirectory: 'coverage',
      // The floor: 2026-12-06 (session 9) measured statements 89.31 %, branches 77.96 %,
      // functions 91.41 %, lines 91.88 % with the PostgreSQL variants on (CI); the floor sits one
      // point under, so a run on PGlite alone (no DATABASE_URL: the multi-server event tests and
      // other PostgreSQL-only cases do not run) does not fail on coverage it cannot reach.
      // It only goes up: when a change raises the figures, raise these to them. 2026-12-07
      // (session 12, CI with PostgreSQL): 89.58 / 78.46 / 91.70 / 92.15 — raised by 0.1–0.2.
      // 2026-12-07 (session 13, fresh-clone CI with PostgreSQL): 89.65 / 78.60 / 91.71 / 92.22.
      thresholds: { statements: 88.65, branches: 77.6, functions: 90.7, lines: 91.2 },
    },
  },
});
