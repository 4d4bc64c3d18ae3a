import { platformsPerTest } from '../../../test/per-suite.ts';
import type { Backend, TestPlatform } from '../../../test/test-platform.ts';
import { createDurableRuns, type RunKind } from './durable-run.ts';

/** A gate a test opens when it wants a step to finish: no sleeps, no clocks. */
export function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { open, opened };
}

/**
 * What the engine's contract tests (durable-run.test.ts, durable-run-recovery.test.ts) share:
 * a platform of the test's own on `backend` (`open` again is a restart on the same storage),
 * engines on its database, and its database counting the statements run on it.
 */
export function durableRunsPerTest(backend: Backend) {
  const platforms = platformsPerTest(backend);
  const harness = {
    /** The platform the test opened last. */
    platform: undefined as TestPlatform | undefined,
    open: async (overrides: Parameters<typeof platforms.open>[0] = { jobsEnabled: false }) => {
      harness.platform = await platforms.open(overrides);
      return harness.platform;
    },
    /** The platform's database, counting every query run on it (each one a round trip). */
    countingDb: () => {
      const counter = {
        statements: 0,
        db: harness.platform!.database.db.withPlugin({
          transformQuery: (args) => args.node,
          transformResult: async (args) => {
            counter.statements++;
            return args.result;
          },
        }),
      };
      return counter;
    },
    engine: (owner: string, kinds: RunKind<{ n: number }, unknown>[]) => {
      const runs = createDurableRuns({
        db: harness.platform!.database.db,
        logger: harness.platform!.logger,
        owner,
      });
      for (const kind of kinds) runs.define(kind);
      return runs;
    },
  };
  return harness;
}
