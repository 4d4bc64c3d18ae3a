import { queryOptions } from '@tanstack/react-query';
import { type RowWindow, sheetApi } from '../api/sheet-api.ts';

export const datasetQueryKey = (projectId: string, datasetId: string) => [
  'dataset',
  projectId,
  datasetId,
];

export const datasetQuery = (projectId: string, datasetId: string) =>
  queryOptions({
    queryKey: datasetQueryKey(projectId, datasetId),
    queryFn: () => sheetApi.get(projectId, datasetId),
    // Still importing: look again until it is ready.
    refetchInterval: (query) =>
      query.state.data && query.state.data.status !== 'ready' ? 1_000 : false,
  });

export const FIRST_PAGE_ROWS = 100;
/** A prefetched window older than this is not used (it may be stale). */
const FRESH_MS = 10_000;
const prefetched = new Map<string, { at: number; request: Promise<RowWindow> }>();

/**
 * Starts the first window (rows 1–100, default order) while the grid's code and the dataset
 * are still loading, so the first paint waits for one round trip instead of three.
 */
export function prefetchFirstWindow(projectId: string, datasetId: string): void {
  const existing = prefetched.get(datasetId);
  if (existing && Date.now() - existing.at < FRESH_MS) return;
  const request = sheetApi.window(projectId, datasetId, { offset: 0, limit: FIRST_PAGE_ROWS });
  request.catch(() => prefetched.delete(datasetId));
  prefetched.set(datasetId, { at: Date.now(), request });
}

/** The prefetched first window, once (later reads go to the server). */
export function takeFirstWindow(datasetId: string): Promise<RowWindow> | undefined {
  const entry = prefetched.get(datasetId);
  prefetched.delete(datasetId);
  return entry && Date.now() - entry.at < FRESH_MS ? entry.request : undefined;
}
