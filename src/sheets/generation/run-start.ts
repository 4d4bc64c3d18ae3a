import type { Actor } from '../../access/actor.ts';
import { presentRun } from './generation-presenter.ts';
import { type RunRequest, runRequestSchema } from './generation-schema.ts';
import type { RunCreation } from './run-create.ts';
import type { RunUseCasesDeps } from './run-shared.ts';

/** Use cases that start a run of an AI column (the UI's, and the CLI's), and read runs. */
export function runStartUseCases(deps: RunUseCasesDeps & Pick<RunCreation, 'createRun'>) {
  const { store, sheets, loaders, control } = deps;

  /** The access check, the request parsed, the AI column loaded, the run created. */
  async function create(
    actor: Actor,
    projectId: string,
    datasetId: string,
    columnId: string,
    request: RunRequest,
  ) {
    const { parsed, columns, process } = await loaders.parseAndLoadColumn(
      [actor, projectId, datasetId, columnId],
      'editor',
      () => runRequestSchema.parse(request),
    );
    return deps.createRun(actor, process, columns, parsed);
  }

  return {
    async startRun(
      actor: Actor,
      projectId: string,
      datasetId: string,
      columnId: string,
      request: RunRequest = {},
    ) {
      const run = await create(actor, projectId, datasetId, columnId, request);
      return presentRun(run, control.live(run.id));
    },

    /** System use case (CLI): a run created and then executed in this process. */
    createRunForCli: create,

    async listRuns(
      actor: Actor,
      projectId: string,
      datasetId: string,
      options: { columnId?: string; limit?: number } = {},
    ) {
      await sheets.requireDataset(actor, projectId, datasetId, 'viewer');
      const runs = await store.listRuns(datasetId, options);
      return runs.map((run) => presentRun(run, control.live(run.id)));
    },

    /** A run with its progress: done/total, errors, tokens, cost so far, rate, ETA. */
    async getRun(actor: Actor, projectId: string, datasetId: string, runId: string) {
      const run = await loaders.loadRun(actor, projectId, datasetId, runId, 'viewer');
      return presentRun(run, control.live(run.id));
    },
  };
}
