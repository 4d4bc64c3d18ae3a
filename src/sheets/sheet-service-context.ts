import type { Actor } from '../access/actor.ts';
import { conflict, notFound } from '../platform/app-error.ts';
import { type DatasetEvent, presentDatasetEvent } from './sheet-presenter.ts';
import type { ColumnRef } from './sheet-query.ts';
import { windowQuerySchema } from './sheet-schema.ts';
import type {
  CopiedCells,
  DatasetDeleteGuard,
  SheetExtension,
  SheetServiceDeps,
} from './sheet-service.ts';
import type { ColumnRow } from './sheet-store.ts';

/**
 * What the sheets use cases (datasets, columns, cells, windows, SQL) share: their
 * dependencies, the extensions plugged in, the loaders that turn a miss into 404 and a
 * dataset that is not ready into 409, and the one publish of dataset events.
 */
export type SheetContext = ReturnType<typeof createSheetContext>;

/** The SSE stream of one dataset's changes. */
export const datasetStream = (datasetId: string) => `dataset:${datasetId}`;

/** The user id to record as creator (the system actor has no user row). */
export const creatorOf = (actor: Actor) => (actor.via === 'system' ? null : actor.userId);

export const columnRef = (column: ColumnRow): ColumnRef => ({
  id: column.id,
  type: column.type,
  kind: column.kind,
});

export function createSheetContext(deps: SheetServiceDeps) {
  const { store, data, events } = deps;
  /** Every module plugged in with `extend()`, in order; each sees every change. */
  const extensions: SheetExtension[] = [];
  /** Features that use datasets (workflows), asked before a dataset is deleted. */
  const deleteGuards: DatasetDeleteGuard[] = [];

  const loadDataset = async (
    projectId: string,
    datasetId: string,
    options: { includeDeleted?: boolean } = {},
  ) => {
    const dataset = await store.findDataset(projectId, datasetId, options);
    if (!dataset) throw notFound('dataset', datasetId);
    return dataset;
  };

  const loadReady = async (projectId: string, datasetId: string) => {
    const found = await store.findDatasetWithColumns(projectId, datasetId);
    if (!found) throw notFound('dataset', datasetId);
    const { dataset, columns } = found;
    if (dataset.status !== 'ready')
      throw conflict(`Dataset is ${dataset.status}`, { status: dataset.status });
    return { dataset, columns };
  };

  /** An editor's use case on a ready dataset: the one access check, then the dataset. */
  const loadForEdit = async (actor: Actor, projectId: string, datasetId: string) => {
    await deps.access.requireRole(actor, projectId, 'editor');
    return loadReady(projectId, datasetId);
  };

  const columnOf = (columns: readonly ColumnRow[], columnId: string) => {
    const column = columns.find((candidate) => candidate.id === columnId);
    if (!column) throw notFound('column', columnId);
    return column;
  };

  /** Publishes a dataset event, presented here for clients: the stream's one edge. */
  const publish = (datasetId: string, event: DatasetEvent, coalesceKey?: string) =>
    events.publish(datasetStream(datasetId), {
      type: event.type,
      data: presentDatasetEvent(event),
      ...(coalesceKey ? { coalesceKey } : {}),
    });

  /** Reads and writes cells of a table or column no one sees yet (no events). */
  const copiedCells = (datasetId: string, columns: readonly ColumnRow[]): CopiedCells => {
    const refs = new Map(columns.map((column) => [column.id, columnRef(column)]));
    return {
      async *scan(columnIds) {
        const selected = columnIds.map((id) => refs.get(id)!);
        let afterRowId: string | undefined;
        while (true) {
          const page = await data.window(
            datasetId,
            selected,
            windowQuerySchema.parse({ afterRowId, limit: 1_000, columns: columnIds }),
          );
          if (page.rows.length > 0) yield page.rows;
          if (page.rows.length < 1_000) return;
          afterRowId = page.rows.at(-1)!.rowId;
        }
      },
      write: (columnId, writes) => data.compareAndSetCells(datasetId, refs.get(columnId)!, writes),
    };
  };

  return {
    ...deps,
    extensions,
    deleteGuards,
    ownerOf: (kind: ColumnRow['kind']) =>
      extensions.find((candidate) => candidate.kinds.includes(kind)),
    loadDataset,
    loadReady,
    loadForEdit,
    columnOf,
    publish,
    copiedCells,
  };
}
