import { runControlUseCases } from './run-controls.ts';
import { createRunCreation } from './run-create.ts';
import { settleRunUseCase } from './run-settle.ts';
import type { RunUseCasesDeps } from './run-shared.ts';
import { runStartUseCases } from './run-start.ts';

export type { RunControl } from './run-shared.ts';

/**
 * Run use cases of AI columns and generated rows, each in a file named for it: create (with
 * its estimate), queue and start the downstream columns (run-create.ts); start and read runs
 * (run-start.ts); cancel, pause, resume and confirm (run-controls.ts); and `settleRun`, which
 * the job calls once the durable-run engine has settled a run (run-settle.ts). What they share
 * — the engine port `RunControl`, `publishRun` — is in run-shared.ts.
 */
export function createRunUseCases(deps: RunUseCasesDeps) {
  const creation = createRunCreation(deps);
  return {
    createRun: creation.createRun,
    startDownstream: creation.startDownstream,
    settleRun: settleRunUseCase({ ...deps, startDownstream: creation.startDownstream }),
    ...runStartUseCases({ ...deps, createRun: creation.createRun }),
    ...runControlUseCases({ ...deps, queue: creation.queue }),
  };
}

export type RunUseCases = ReturnType<typeof createRunUseCases>;
