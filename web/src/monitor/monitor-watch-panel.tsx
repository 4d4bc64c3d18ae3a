import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { type FormEvent, useEffect, useRef } from 'react';
import { FormError } from '../ui/form-error.tsx';
import { formatDateTime } from '../ui/format.ts';
import { monitorApi } from './monitor-api.ts';

/**
 * How often the page asks whether the server's watch imported something. Polling, not the
 * event bus: the watch may run on another server, and its cycles are recorded in PostgreSQL,
 * which every server reads.
 */
const POLL_MS = 5_000;

/**
 * The server-side watch of a project's folder: a live badge with the last cycle's time, a
 * switch and the folder (editors). When a cycle imports something the reports reload.
 */
export function MonitorWatchPanel({ projectId }: { projectId: string }) {
  const queryClient = useQueryClient();
  const queryKey = ['monitor-watch', projectId];
  const watch = useQuery({
    queryKey,
    queryFn: () => monitorApi.watch(projectId),
    refetchInterval: POLL_MS,
  });
  const lastImport = useRef<string | null | undefined>(undefined);
  const imported = watch.data?.lastImportAt;
  useEffect(() => {
    if (imported === undefined) return;
    // The first answer only sets the mark; a later import reloads every monitor report.
    if (lastImport.current !== undefined && imported !== lastImport.current) {
      void queryClient.invalidateQueries({ queryKey: ['monitor', projectId] });
    }
    lastImport.current = imported;
  }, [imported, projectId, queryClient]);

  const save = useMutation({
    mutationFn: (body: { enabled: boolean; path?: string }) => monitorApi.setWatch(projectId, body),
    onSuccess: (data) => queryClient.setQueryData(queryKey, data),
  });
  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const folder = String(form.get('path') ?? '').trim();
    save.mutate({ enabled: form.get('enabled') === 'on', ...(folder ? { path: folder } : {}) });
  };

  const data = watch.data;
  return (
    <div className="stack" data-testid="monitor-watch">
      <div className="row">
        {data?.live ? (
          <span className="badge" data-testid="monitor-live" title="The server watches the folder">
            live · last cycle {data.lastCycleAt ? formatDateTime(data.lastCycleAt) : '—'}
          </span>
        ) : data?.enabled ? (
          <span className="badge badge-warning" data-testid="monitor-not-live">
            watch on, no recent cycle
          </span>
        ) : null}
        {data?.lastError && <span className="muted">{data.lastError}</span>}
      </div>
      {data && (
        <form className="row" onSubmit={submit} key={`${data.enabled}:${data.path ?? ''}`}>
          <label className="checkbox">
            <input type="checkbox" name="enabled" defaultChecked={data.enabled} /> Watch a server
            folder
          </label>
          <input
            name="path"
            aria-label="Folder to watch"
            placeholder={data.path ?? 'Absolute folder inside BRAINCELLS_MONITOR_ROOTS'}
            size={40}
          />
          <button type="submit" disabled={save.isPending}>
            Save
          </button>
        </form>
      )}
      <FormError error={watch.error ?? save.error} />
    </div>
  );
}
