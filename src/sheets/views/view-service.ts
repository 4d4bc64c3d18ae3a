import type { Actor } from '../../access/actor.ts';
import type { ProjectAccess } from '../../access/project-access.ts';
import type { FieldIssue } from '../../platform/app-error.ts';
import { conflict, notFound, validationError } from '../../platform/app-error.ts';
import { uuidv7 } from '../../platform/ids.ts';
import type { SheetStore } from '../sheet-store.ts';
import {
  type CreateViewInput,
  createViewSchema,
  type UpdateViewInput,
  type ViewDefinition,
  viewDefinitionSchema,
} from './view-schema.ts';
import type { ViewRow, ViewStore } from './view-store.ts';

const iso = (value: unknown) => new Date(value as Date | string).toISOString();

/** A saved view as the service returns it; references to since-deleted columns are left out. */
export interface SavedView extends ViewDefinition {
  id: string;
  datasetId: string;
  name: string;
  version: number;
  createdBy: string | null;
  createdAt: string;
  updatedAt: string;
}

/**
 * Saved views (issue 14, item 19): named filter + sort + search + hidden columns per dataset,
 * shared by the project. Viewers list them (and apply them in their grid); editors save,
 * rename, update and delete. Updates are compare-and-set on `version`.
 */
export function createViewService(deps: {
  views: ViewStore;
  sheets: Pick<SheetStore, 'findDataset' | 'listColumns'>;
  access: ProjectAccess;
}) {
  const { views, sheets, access } = deps;

  const columnIdsOf = async (projectId: string, datasetId: string) => {
    const dataset = await sheets.findDataset(projectId, datasetId);
    if (!dataset) throw notFound('Dataset', datasetId);
    return new Set((await sheets.listColumns(datasetId)).map((column) => column.id));
  };

  /** Every column a definition names must be one of the dataset's: 400 naming the field. */
  const checkColumns = (definition: ViewDefinition, columns: Set<string>, prefix = '') => {
    const issues: FieldIssue[] = [];
    const check = (path: string, columnId: string) => {
      if (!columns.has(columnId))
        issues.push({ path: `${prefix}${path}`, message: 'not a column of this dataset' });
    };
    for (const [index, filter] of definition.filters.entries())
      check(`filters.${index}.columnId`, filter.columnId);
    for (const [index, sort] of definition.sort.entries())
      check(`sort.${index}.columnId`, sort.columnId);
    for (const [index, columnId] of definition.hiddenColumnIds.entries())
      check(`hiddenColumnIds.${index}`, columnId);
    if (issues.length > 0) throw validationError('The view names unknown columns', issues);
  };

  const present = (row: ViewRow, columns: Set<string>): SavedView => {
    const definition = viewDefinitionSchema.parse(row.definition);
    return {
      id: row.id,
      datasetId: row.dataset_id,
      name: row.name,
      filters: definition.filters.filter((filter) => columns.has(filter.columnId)),
      sort: definition.sort.filter((sort) => columns.has(sort.columnId)),
      search: definition.search,
      hiddenColumnIds: definition.hiddenColumnIds.filter((columnId) => columns.has(columnId)),
      version: row.version,
      createdBy: row.created_by,
      createdAt: iso(row.created_at),
      updatedAt: iso(row.updated_at),
    };
  };

  const duplicate = (name: string) =>
    conflict(`A view named "${name}" already exists`, { field: 'name' });

  return {
    async list(actor: Actor, projectId: string, datasetId: string): Promise<SavedView[]> {
      await access.requireRole(actor, projectId, 'viewer');
      const columns = await columnIdsOf(projectId, datasetId);
      return (await views.list(datasetId)).map((row) => present(row, columns));
    },

    async create(
      actor: Actor,
      projectId: string,
      datasetId: string,
      input: CreateViewInput,
    ): Promise<SavedView> {
      await access.requireRole(actor, projectId, 'editor');
      const { name, ...definition } = createViewSchema.parse(input);
      const columns = await columnIdsOf(projectId, datasetId);
      checkColumns(definition, columns);
      const row = await views.insert({
        id: uuidv7(),
        dataset_id: datasetId,
        name,
        definition,
        created_by: actor.userId,
      });
      if (!row) throw duplicate(name);
      return present(row, columns);
    },

    async update(
      actor: Actor,
      projectId: string,
      datasetId: string,
      viewId: string,
      input: UpdateViewInput,
    ): Promise<SavedView> {
      await access.requireRole(actor, projectId, 'editor');
      const columns = await columnIdsOf(projectId, datasetId);
      if (input.definition) checkColumns(input.definition, columns, 'definition.');
      const result = await views.update(datasetId, viewId, input.expectedVersion, {
        ...(input.name === undefined ? {} : { name: input.name }),
        ...(input.definition === undefined ? {} : { definition: input.definition }),
      });
      if (result === undefined) throw notFound('View', viewId);
      if (result === 'duplicate') throw duplicate(input.name!);
      if (result === 'stale') {
        const current = await views.find(datasetId, viewId);
        throw conflict('The view was changed by someone else; reload it and try again', {
          field: 'expectedVersion',
          ...(current ? { current: present(current, columns) } : {}),
        });
      }
      return present(result, columns);
    },

    async delete(actor: Actor, projectId: string, datasetId: string, viewId: string) {
      await access.requireRole(actor, projectId, 'editor');
      await columnIdsOf(projectId, datasetId);
      if (!(await views.delete(datasetId, viewId))) throw notFound('View', viewId);
    },
  };
}
export type ViewService = ReturnType<typeof createViewService>;
