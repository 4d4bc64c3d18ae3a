import type { Actor } from '../access/actor.ts';
import { conflict, validationError } from '../platform/app-error.ts';
import { isHeldElsewhere } from '../platform/datasets/dataset-leases.ts';
import { uuidv7 } from '../platform/ids.ts';
import { remapReferences } from './column-refs.ts';
import type { DatasetRecord } from './sheet-presenter.ts';
import { type CreateDatasetInput, createDatasetSchema, nameSchema } from './sheet-schema.ts';
import { creatorOf, type SheetContext } from './sheet-service-context.ts';
import type { DatasetRow } from './sheet-store.ts';

/**
 * Dataset use cases: list, read, create, rename, copy, delete (soft), restore, purge. Each
 * returns a dataset record (`presentDataset` in the routes makes it what clients see).
 */
export function createDatasetUseCases(context: SheetContext) {
  const { store, data, access, settings, extensions } = context;
  const { loadDataset, loadReady, publish, copiedCells } = context;

  const recordOf = async (dataset: DatasetRow, rowCount?: number): Promise<DatasetRecord> => ({
    ...dataset,
    columns: await store.listColumns(dataset.id),
    rowCount:
      rowCount ??
      (dataset.status === 'ready' && !dataset.deleted_at
        ? // Another server holds the file (or this one holds none): not counted here.
          await data.rowCount(dataset.id).catch((error: unknown) => {
            if (isHeldElsewhere(error)) return null;
            throw error;
          })
        : null),
  });

  const useCases = {
    async listDatasets(actor: Actor, projectId: string, options: { deleted?: boolean } = {}) {
      await access.requireRole(actor, projectId, 'viewer');
      const datasets = await store.listDatasets(projectId, options);
      return Promise.all(datasets.map((dataset) => recordOf(dataset)));
    },

    async getDataset(actor: Actor, projectId: string, datasetId: string) {
      await access.requireRole(actor, projectId, 'viewer');
      return recordOf(await loadDataset(projectId, datasetId));
    },

    async createDataset(actor: Actor, projectId: string, input: CreateDatasetInput) {
      await access.requireRole(actor, projectId, 'editor');
      const parsed = createDatasetSchema.parse(input);
      const names = new Set<string>();
      for (const column of parsed.columns) {
        if (names.has(column.name.toLowerCase()))
          throw validationError(`Duplicate column name ${column.name}`, [
            { path: 'columns.name', message: 'duplicate' },
          ]);
        names.add(column.name.toLowerCase());
      }
      const datasetId = uuidv7();
      const columnRows = parsed.columns.map((column, position) => ({
        id: uuidv7(),
        dataset_id: datasetId,
        name: column.name,
        type: column.type,
        position,
      }));
      // DuckDB first: if it fails, no metadata points at a missing table.
      await data.createTable(
        datasetId,
        columnRows.map((column) => ({ id: column.id, type: column.type, kind: 'static' as const })),
        parsed.rows,
      );
      try {
        const dataset = await store.transaction(async (trx) => {
          const row = await store.insertDataset(
            {
              id: datasetId,
              project_id: projectId,
              name: parsed.name,
              created_by: creatorOf(actor),
            },
            trx,
          );
          await store.insertColumns(columnRows, trx);
          return row;
        });
        return recordOf(dataset, parsed.rows);
      } catch (error) {
        await data.dropTable(datasetId).catch(() => {});
        throw error;
      }
    },

    async renameDataset(actor: Actor, projectId: string, datasetId: string, name: string) {
      await access.requireRole(actor, projectId, 'editor');
      await loadDataset(projectId, datasetId);
      const updated = await store.updateDataset(datasetId, { name: nameSchema.parse(name) });
      publish(datasetId, { type: 'dataset-change', name: updated!.name });
      return useCases.getDataset(actor, projectId, datasetId);
    },

    async duplicateDataset(actor: Actor, projectId: string, datasetId: string, name?: string) {
      await access.requireRole(actor, projectId, 'editor');
      const { dataset, columns } = await loadReady(projectId, datasetId);
      const copyId = uuidv7();
      const copies = columns.map((column) => ({ ...column, id: uuidv7(), dataset_id: copyId }));
      const idMap = new Map(columns.map((column, index) => [column.id, copies[index]!.id]));
      await data.duplicateTable(datasetId, copyId, idMap);
      try {
        const copyExtras = await Promise.all(
          extensions.map((extension) =>
            extension.copyDataset({
              actor,
              projectId,
              sourceId: datasetId,
              copyId,
              columns,
              columnIds: idMap,
              cells: copiedCells(copyId, copies),
            }),
          ),
        );
        await store.transaction(async (trx) => {
          await store.insertDataset(
            {
              id: copyId,
              project_id: projectId,
              name: nameSchema.parse(name ?? `${dataset.name} (copy)`.slice(0, 200)),
              created_by: creatorOf(actor),
            },
            trx,
          );
          await store.insertColumns(
            copies.map((column) => ({
              id: column.id,
              dataset_id: copyId,
              name: column.name,
              type: column.type,
              kind: column.kind,
              // Formula references point at the copy's columns.
              formula: column.formula === null ? null : remapReferences(column.formula, idMap),
              position: column.position,
              hidden: column.hidden,
            })),
            trx,
          );
          for (const copyExtra of copyExtras) await copyExtra?.(trx);
        });
      } catch (error) {
        await data.dropTable(copyId).catch(() => {});
        throw error;
      }
      return useCases.getDataset(actor, projectId, copyId);
    },

    /**
     * Soft delete: restorable for the retention period, then purged by `sheets.purge-datasets`.
     * A dataset a workflow uses answers 409 naming the users unless `force` (then recorded).
     */
    async deleteDataset(
      actor: Actor,
      projectId: string,
      datasetId: string,
      options: { force?: boolean } = {},
    ) {
      await access.requireRole(actor, projectId, 'editor');
      await loadDataset(projectId, datasetId);
      for (const guard of context.deleteGuards) {
        const users = await guard.usersOf(projectId, datasetId);
        if (users.length === 0) continue;
        if (!options.force)
          throw conflict(
            `The dataset is used by ${users.map((user) => `${user.kind} "${user.name}"`).join(', ')}; delete with force=true to delete it anyway`,
            { usedBy: users },
          );
        await guard.forced(actor, projectId, datasetId, users);
      }
      const now = new Date();
      await store.updateDataset(datasetId, {
        deleted_at: now,
        purge_after: new Date(now.getTime() + settings.retentionDays * 86_400_000),
      });
      publish(datasetId, { type: 'dataset-delete', id: datasetId });
    },

    async restoreDataset(actor: Actor, projectId: string, datasetId: string) {
      await access.requireRole(actor, projectId, 'editor');
      const dataset = await loadDataset(projectId, datasetId, { includeDeleted: true });
      if (!dataset.deleted_at) return useCases.getDataset(actor, projectId, datasetId);
      await store.updateDataset(datasetId, { deleted_at: null, purge_after: null });
      return useCases.getDataset(actor, projectId, datasetId);
    },

    /** System use case (the purge job): drops datasets whose restore window has passed. */
    async purgeExpiredDatasets(now = new Date()) {
      let purged = 0;
      for (const dataset of await store.listPurgeable(now)) {
        await data.dropTable(dataset.id);
        await store.deleteDataset(dataset.id);
        purged++;
      }
      return purged;
    },
  };
  return useCases;
}
