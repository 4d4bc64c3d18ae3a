import { useQuery, useQueryClient } from '@tanstack/react-query';
import { Link, useParams } from '@tanstack/react-router';
import { type FormEvent, useEffect, useRef, useState } from 'react';
import { type DocumentView, documentApi, type UploadResult } from '../api/document-api.ts';
import { rememberProject } from '../projects/home-page.tsx';
import { FormError } from '../ui/form-error.tsx';
import { formatBytes } from '../ui/format.ts';
import { useNotices } from '../ui/notices.tsx';

const STATUS_LABELS: Record<DocumentView['status'], string> = {
  queued: 'Queued',
  extracting: 'Extracting…',
  ready: 'Text extracted',
  'no-text': 'No text',
  encrypted: 'Encrypted',
  corrupt: 'Corrupt',
  failed: 'Failed',
  unsupported: 'Unsupported',
};
const WORKING = new Set<DocumentView['status']>(['queued', 'extracting']);
const NEW_COLLECTION = '';

/**
 * /projects/:projectId/documents — upload many documents into a collection (a dataset whose
 * rows are the documents' text), follow each document's extraction, open the collection as
 * a sheet, download originals. docs/documents.md.
 */
export function DocumentsPage() {
  const { projectId } = useParams({ strict: false }) as { projectId: string };
  const queryClient = useQueryClient();
  const notices = useNotices();
  useEffect(() => rememberProject(projectId), [projectId]);
  const [selected, setSelected] = useState<string>(NEW_COLLECTION);
  const [progress, setProgress] = useState<{ sent: number; total: number }>();
  const [error, setError] = useState<unknown>();
  const [last, setLast] = useState<UploadResult>();
  const input = useRef<HTMLInputElement>(null);

  const collections = useQuery({
    queryKey: ['document-collections', projectId],
    queryFn: () => documentApi.collections(projectId),
  });
  const documents = useQuery({
    queryKey: ['documents', projectId, selected],
    queryFn: () => documentApi.list(projectId, selected),
    enabled: selected !== NEW_COLLECTION,
    // While documents are queued or extracting, look again.
    refetchInterval: (query) =>
      query.state.data?.items.some((item) => WORKING.has(item.status)) ? 1_000 : false,
  });

  const upload = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const files = [...(input.current?.files ?? [])];
    if (files.length === 0) return;
    const name = String(new FormData(event.currentTarget).get('name') ?? '').trim();
    setError(undefined);
    setProgress({ sent: 0, total: files.reduce((sum, file) => sum + file.size, 0) });
    const handle = documentApi.upload(
      projectId,
      files,
      selected === NEW_COLLECTION ? (name ? { name } : {}) : { datasetId: selected },
      (sent, total) => setProgress({ sent, total }),
    );
    handle.done.then(
      async (result) => {
        setProgress(undefined);
        setLast(result);
        if (input.current) input.current.value = '';
        await queryClient.invalidateQueries({ queryKey: ['document-collections', projectId] });
        setSelected(result.datasetId);
        await queryClient.invalidateQueries({
          queryKey: ['documents', projectId, result.datasetId],
        });
        notices.info(
          `${result.documents.length} document${result.documents.length === 1 ? '' : 's'} added${
            result.duplicates.length ? `; ${result.duplicates.length} already there` : ''
          }.`,
        );
      },
      (failure: unknown) => {
        setProgress(undefined);
        setError(failure);
      },
    );
  };

  const items = documents.data?.items ?? [];
  const working = items.filter((item) => WORKING.has(item.status)).length;

  return (
    <div className="page documents-page">
      <header className="row">
        <h1>Documents</h1>
        <span className="spacer" />
        {selected !== NEW_COLLECTION && (
          <Link
            to="/projects/$projectId/datasets/$datasetId"
            params={{ projectId, datasetId: selected }}
            className="button"
          >
            Open as sheet
          </Link>
        )}
      </header>
      <form className="stack card" onSubmit={upload} aria-label="Upload documents">
        <label>
          Collection
          <select
            value={selected}
            onChange={(event) => setSelected(event.target.value)}
            aria-label="Collection"
          >
            <option value={NEW_COLLECTION}>New collection…</option>
            {(collections.data?.items ?? []).map((collection) => (
              <option key={collection.id} value={collection.id}>
                {collection.name} ({collection.documents.toLocaleString()})
              </option>
            ))}
          </select>
        </label>
        {selected === NEW_COLLECTION && (
          <label>
            Name of the new collection
            <input name="name" maxLength={200} placeholder="Documents (today's date)" />
          </label>
        )}
        <label>
          Files (PDF, Word, HTML, e-mail, text, Markdown, images)
          <input ref={input} type="file" name="files" multiple required />
        </label>
        {progress && (
          <progress max={progress.total || 1} value={progress.sent} aria-label="Upload progress" />
        )}
        <FormError error={error} />
        <div className="row">
          <button type="submit" className="primary" disabled={progress !== undefined}>
            Upload
          </button>
          {last && last.duplicates.length > 0 && (
            <span className="muted" data-testid="duplicates">
              Already in the collection:{' '}
              {last.duplicates.map((entry) => `${entry.name} (as ${entry.duplicateOf})`).join(', ')}
            </span>
          )}
        </div>
      </form>
      {selected !== NEW_COLLECTION && (
        <section aria-label="Documents of the collection">
          <p className="muted" role="status">
            {items.length.toLocaleString()} documents
            {working > 0 ? ` · ${working.toLocaleString()} still extracting` : ''}
          </p>
          <div className="table-scroll">
            <table className="data-table" aria-label="Documents">
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Type</th>
                  <th scope="col">Status</th>
                  <th scope="col" className="number">
                    Pages
                  </th>
                  <th scope="col" className="number">
                    Size
                  </th>
                  <th scope="col">Original</th>
                </tr>
              </thead>
              <tbody>
                {items.map((item) => (
                  <tr key={item.id}>
                    <td>{item.name}</td>
                    <td>{item.kind ?? '—'}</td>
                    <td>
                      <span className={`status status-${item.status}`}>
                        {STATUS_LABELS[item.status]}
                      </span>
                      {item.message && <div className="muted small">{item.message}</div>}
                    </td>
                    <td className="number">{item.pages ?? '—'}</td>
                    <td className="number">{formatBytes(item.size)}</td>
                    <td>
                      <a href={documentApi.originalUrl(projectId, item.id)} download={item.name}>
                        Download
                      </a>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </section>
      )}
    </div>
  );
}
