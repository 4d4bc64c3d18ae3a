import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Link, useParams } from '@tanstack/react-router';
import { type DragEvent, type FormEvent, useEffect, useState } from 'react';
import { sheetApi } from '../api/sheet-api.ts';
import { rememberProject } from '../projects/home-page.tsx';
import { useConfirm } from '../ui/confirm.tsx';
import { Dialog } from '../ui/dialog.tsx';
import { FormError } from '../ui/form-error.tsx';
import { formatDateTime } from '../ui/format.ts';
import { useNotices } from '../ui/notices.tsx';
import { ImportDialog } from './import-dialog.tsx';
import { PublishDialog } from './publish-dialog.tsx';

/** /projects/:projectId/datasets — list, create, import, delete and restore. */
export function DatasetsPage() {
  const { projectId } = useParams({ strict: false }) as { projectId: string };
  const queryClient = useQueryClient();
  const notices = useNotices();
  const confirm = useConfirm();
  const [showDeleted, setShowDeleted] = useState(false);
  const [creating, setCreating] = useState(false);
  const [importing, setImporting] = useState<{ file?: File } | undefined>();
  const [dragging, setDragging] = useState(false);
  const [publishing, setPublishing] = useState<{ id: string; name: string } | undefined>();
  useEffect(() => rememberProject(projectId), [projectId]);

  const datasets = useQuery({
    queryKey: ['datasets', projectId, showDeleted],
    queryFn: () => sheetApi.list(projectId, showDeleted),
    // Imports in progress show up as they finish.
    refetchInterval: (query) =>
      query.state.data?.items.some((item) => item.status !== 'ready') ? 2_000 : false,
  });
  const refresh = () => queryClient.invalidateQueries({ queryKey: ['datasets', projectId] });
  const create = useMutation({
    mutationFn: (input: { name: string; rows: number }) =>
      sheetApi.create(projectId, { ...input, columns: [{ name: 'Column 1', type: 'text' }] }),
    onSuccess: () => {
      setCreating(false);
      void refresh();
    },
  });
  const remove = useMutation({
    mutationFn: (datasetId: string) => sheetApi.remove(projectId, datasetId),
    onSuccess: refresh,
    onError: notices.error,
  });
  const restore = useMutation({
    mutationFn: (datasetId: string) => sheetApi.restore(projectId, datasetId),
    onSuccess: refresh,
    onError: notices.error,
  });

  const onDrop = (event: DragEvent<HTMLElement>) => {
    event.preventDefault();
    setDragging(false);
    const file = event.dataTransfer.files[0];
    if (file) setImporting({ file });
  };

  return (
    // biome-ignore lint/a11y/noStaticElementInteractions: the page is a drop target; the Import button is the keyboard way
    <section
      className={dragging ? 'page datasets-page dragging' : 'page datasets-page'}
      onDragOver={(event) => {
        if (event.dataTransfer.types.includes('Files')) {
          event.preventDefault();
          setDragging(true);
        }
      }}
      onDragLeave={(event) => {
        if (event.currentTarget === event.target) setDragging(false);
      }}
      onDrop={onDrop}
    >
      <div className="row">
        <h1>Datasets</h1>
        <span className="spacer" />
        <button type="button" className="primary" onClick={() => setImporting({})}>
          Import…
        </button>
        <button type="button" onClick={() => setCreating(true)}>
          New empty dataset
        </button>
      </div>
      <p className="muted">Drop a file anywhere on this page to import it.</p>
      <div className="row">
        <label className="checkbox">
          <input
            type="checkbox"
            checked={showDeleted}
            onChange={(event) => setShowDeleted(event.target.checked)}
          />
          Show deleted datasets
        </label>
      </div>
      <FormError error={datasets.error} />
      <div className="table-scroll">
        <table className="data-table" aria-label={showDeleted ? 'Deleted datasets' : 'Datasets'}>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col" className="number">
                Rows
              </th>
              <th scope="col" className="number">
                Columns
              </th>
              <th scope="col">Status</th>
              <th scope="col">{showDeleted ? 'Purged after' : 'Updated'}</th>
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {datasets.data?.items.map((dataset) => (
              <tr key={dataset.id}>
                <td>
                  {dataset.deletedAt || dataset.status !== 'ready' ? (
                    dataset.name
                  ) : (
                    <Link
                      to="/projects/$projectId/datasets/$datasetId"
                      params={{ projectId, datasetId: dataset.id }}
                    >
                      {dataset.name}
                    </Link>
                  )}
                </td>
                <td className="number">
                  {dataset.rowCount === null ? '—' : dataset.rowCount.toLocaleString()}
                </td>
                <td className="number">{dataset.columns.length}</td>
                <td>{dataset.deletedAt ? 'deleted' : dataset.status}</td>
                <td>{formatDateTime(showDeleted ? dataset.purgeAfter : dataset.updatedAt)}</td>
                <td>
                  {dataset.deletedAt ? (
                    <button type="button" onClick={() => restore.mutate(dataset.id)}>
                      Restore
                    </button>
                  ) : (
                    <>
                      {dataset.status === 'ready' && (
                        <button
                          type="button"
                          onClick={() => setPublishing({ id: dataset.id, name: dataset.name })}
                        >
                          Publish to Hub…
                        </button>
                      )}
                      <button
                        type="button"
                        className="danger"
                        onClick={async () => {
                          if (
                            await confirm({
                              title: 'Delete dataset?',
                              message: `Delete “${dataset.name}”? You can restore it until it is purged.`,
                              confirmLabel: 'Delete',
                              danger: true,
                            })
                          )
                            remove.mutate(dataset.id);
                        }}
                      >
                        Delete
                      </button>
                    </>
                  )}
                </td>
              </tr>
            ))}
            {datasets.data?.items.length === 0 && (
              <tr>
                <td colSpan={6} className="muted">
                  {showDeleted
                    ? 'No deleted datasets.'
                    : 'No datasets yet. Import a file or create an empty dataset.'}
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>

      <Dialog open={creating} title="New empty dataset" onClose={() => setCreating(false)}>
        <form
          className="stack"
          onSubmit={(event: FormEvent<HTMLFormElement>) => {
            event.preventDefault();
            const form = new FormData(event.currentTarget);
            create.mutate({ name: String(form.get('name')), rows: Number(form.get('rows') ?? 0) });
          }}
        >
          <label>
            Name
            <input name="name" required maxLength={200} />
          </label>
          <label>
            Empty rows to start with
            <input name="rows" type="number" min={0} max={100000} defaultValue={10} />
          </label>
          <FormError error={create.error} />
          <div className="dialog-actions">
            <button type="submit" className="primary" disabled={create.isPending}>
              Create
            </button>
          </div>
        </form>
      </Dialog>
      <PublishDialog
        projectId={projectId}
        dataset={publishing}
        onClose={() => setPublishing(undefined)}
      />
      <ImportDialog
        projectId={projectId}
        open={importing !== undefined}
        {...(importing?.file ? { initialFile: importing.file } : {})}
        onClose={() => setImporting(undefined)}
      />
    </section>
  );
}
