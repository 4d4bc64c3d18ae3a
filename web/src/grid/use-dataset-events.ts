import { useQueryClient } from '@tanstack/react-query';
import { useEffect, useRef, useState } from 'react';
import { openEventStream } from '../api/event-stream.ts';
import type { RunProgressEvent } from '../api/generation-api.ts';
import { setLiveData } from '../api/live-query.ts';
import { type Dataset, type DatasetEvents, sheetApi } from '../api/sheet-api.ts';
import { useAnnouncer } from '../ui/live-region.tsx';
import type { RowCache } from './row-cache.ts';

export type StreamState = 'connecting' | 'live' | 'reconnecting';

/**
 * Follows a dataset's live changes (SSE) into the row cache and the dataset query:
 * - `cells-update`: applied in place; the cache re-renders once per animation frame;
 * - `rows-append` / `rows-delete`: the row count and the visible pages are refreshed;
 * - `columns-change`: the column list is replaced;
 * - `run-progress`: handed to the runs strip (AI column generation);
 * - `resync` (we fell too far behind): everything visible is fetched again.
 * Progress is announced (politely, at most every few seconds), never cell by cell.
 */
export function useDatasetEvents(
  projectId: string,
  datasetId: string,
  cache: RowCache,
  handlers: { onRunProgress?: (event: RunProgressEvent) => void } = {},
): StreamState {
  const queryClient = useQueryClient();
  const { announce } = useAnnouncer();
  const [state, setState] = useState<StreamState>('connecting');
  const cacheRef = useRef(cache);
  cacheRef.current = cache;
  const handlersRef = useRef(handlers);
  handlersRef.current = handlers;
  // The stream starts after the first snapshot (window) so nothing between them is missed.
  const [startId, setStartId] = useState<number | undefined>(cache.lastEventId);
  useEffect(() => {
    if (startId !== undefined) return;
    const check = () => {
      if (cache.lastEventId !== undefined) setStartId(cache.lastEventId);
    };
    check();
    return cache.subscribe(check);
  }, [cache, startId]);

  useEffect(() => {
    if (startId === undefined) return;
    const datasetKey = ['dataset', projectId, datasetId];
    let updatedSinceAnnouncement = 0;
    const announcer = window.setInterval(() => {
      if (updatedSinceAnnouncement > 0) {
        announce(`${updatedSinceAnnouncement.toLocaleString()} cells updated`);
        updatedSinceAnnouncement = 0;
      }
    }, 5_000);
    const refreshRows = () => {
      void queryClient.invalidateQueries({ queryKey: datasetKey });
      cacheRef.current.invalidate();
    };
    const close = openEventStream(sheetApi.eventsUrl(projectId, datasetId, startId), {
      events: {
        'cells-update': (data) => {
          const update = data as DatasetEvents['cells-update'];
          cacheRef.current.applyCells(update.columnId, update.cells);
          updatedSinceAnnouncement += update.cells.length;
        },
        'rows-append': refreshRows,
        'rows-delete': refreshRows,
        'columns-change': (data) => {
          const { columns } = data as DatasetEvents['columns-change'];
          setLiveData<Dataset>(queryClient, datasetKey, (previous) =>
            previous ? { ...previous, columns } : previous,
          );
          cacheRef.current.invalidate();
        },
        'run-progress': (data) => handlersRef.current.onRunProgress?.(data as RunProgressEvent),
        'dataset-change': () => void queryClient.invalidateQueries({ queryKey: datasetKey }),
        resync: refreshRows,
      },
      onOpen: () => setState('live'),
      onError: () => setState('reconnecting'),
    });
    return () => {
      close();
      window.clearInterval(announcer);
    };
  }, [projectId, datasetId, queryClient, announce, startId]);

  return state;
}
