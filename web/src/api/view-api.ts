import { api } from './api-client.ts';
import type { Filter, Sort } from './sheet-api.ts';

/** What a saved view restores (server: src/sheets/views/view-schema.ts). */
export interface ViewDefinition {
  filters: Filter[];
  sort: Sort[];
  search: string;
  hiddenColumnIds: string[];
}

export interface SavedView extends ViewDefinition {
  id: string;
  datasetId: string;
  name: string;
  version: number;
  createdBy: string | null;
  createdAt: string;
  updatedAt: string;
}

const viewsPath = (projectId: string, datasetId: string) =>
  `/api/projects/${encodeURIComponent(projectId)}/datasets/${encodeURIComponent(datasetId)}/views`;

export const viewApi = {
  list: (projectId: string, datasetId: string) =>
    api<{ items: SavedView[] }>(viewsPath(projectId, datasetId)),
  create: (projectId: string, datasetId: string, input: ViewDefinition & { name: string }) =>
    api<SavedView>(viewsPath(projectId, datasetId), { method: 'POST', body: input }),
  update: (
    projectId: string,
    datasetId: string,
    view: Pick<SavedView, 'id' | 'version'>,
    changes: { name?: string; definition?: ViewDefinition },
  ) =>
    api<SavedView>(`${viewsPath(projectId, datasetId)}/${encodeURIComponent(view.id)}`, {
      method: 'PATCH',
      body: { ...changes, expectedVersion: view.version },
    }),
  remove: (projectId: string, datasetId: string, viewId: string) =>
    api<void>(`${viewsPath(projectId, datasetId)}/${encodeURIComponent(viewId)}`, {
      method: 'DELETE',
    }),
};
