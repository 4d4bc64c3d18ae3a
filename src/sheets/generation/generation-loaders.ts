import type { Actor } from '../../access/actor.ts';
import type { ProjectAccess } from '../../access/project-access.ts';
import { notFound } from '../../platform/app-error.ts';
import type { SheetService } from '../sheet-service.ts';
import type { GenerationStore } from './generation-store.ts';

/**
 * The first line of most generation use cases: the access check (sheets.requireDataset), then
 * the AI column or run it names — 404 for both "no such thing" and "not yours". One round
 * trip checks access and loads the dataset's columns.
 */
/** The actor and the AI column a use case is asked about. */
export type ColumnTarget = readonly [
  actor: Actor,
  projectId: string,
  datasetId: string,
  columnId: string,
];

/** The actor and the dataset a use case is asked about. */
export type DatasetTarget = readonly [actor: Actor, projectId: string, datasetId: string];

export function createLoaders(deps: {
  sheets: SheetService;
  store: GenerationStore;
  access: ProjectAccess;
}) {
  const { sheets, store } = deps;
  return {
    /**
     * The access check for `role`, then the input parsed (so a bad body on a column the actor
     * may not see is a 404, not a 400), then the AI column loaded.
     */
    async parseAndLoadColumn<T>(target: ColumnTarget, role: 'viewer' | 'editor', parse: () => T) {
      await deps.access.requireRole(target[0], target[1], role);
      const parsed = parse();
      return { parsed, ...(await this.loadColumn(...target, role)) };
    },

    /**
     * The access check for `role`, then the input parsed (a bad body on a dataset the actor may
     * not see is a 404, not a 400), then the dataset with its columns.
     */
    async parseAndLoadDataset<T>(target: DatasetTarget, role: 'viewer' | 'editor', parse: () => T) {
      await deps.access.requireRole(target[0], target[1], role);
      const parsed = parse();
      return { parsed, ...(await sheets.requireDataset(...target, role)) };
    },

    async loadColumn(
      actor: Actor,
      projectId: string,
      datasetId: string,
      columnId: string,
      role: 'viewer' | 'editor',
    ) {
      const { dataset, columns } = await sheets.requireDataset(actor, projectId, datasetId, role);
      const column = columns.find((candidate) => candidate.id === columnId);
      if (!column) throw notFound('column', columnId);
      const process = column.kind === 'ai' ? await store.findProcessByColumn(columnId) : undefined;
      if (!process || process.dataset_id !== datasetId) throw notFound('AI column', columnId);
      return { dataset, columns, column, process };
    },

    async loadRun(
      actor: Actor,
      projectId: string,
      datasetId: string,
      runId: string,
      role: 'viewer' | 'editor',
    ) {
      await sheets.requireDataset(actor, projectId, datasetId, role);
      const run = await store.findRun(runId);
      if (!run || run.dataset_id !== datasetId || run.project_id !== projectId)
        throw notFound('run', runId);
      return run;
    },
  };
}

export type GenerationLoaders = ReturnType<typeof createLoaders>;
