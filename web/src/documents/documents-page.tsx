import { useQuery, useQueryClient } from '@tanstack/react-query';
import { Link, useNavigate, useParams, useSearch } from '@tanstack/react-router';
import { type FormEvent, useEffect, useRef, useState } from 'react';
import { api } from '../api/api-client.ts';
import { type DocumentView, documentApi, type UploadResult } from '../api/document-api.ts';
import { rememberProject } from '../projects/home-page.tsx';
import { FormError } from '../ui/form-error.tsx';
import { formatBytes } from '../ui/format.ts';
import { useNotices } from '../ui/notices.tsx';
import { STATUS_LABELS, WORKING } from './document-status.ts';
import { DocumentViewer } from './document-viewer.tsx';
import '../workflows/workflows.css';

const NEW_COLLECTION = '';

/**
 * /projects/:projectId/documents — upload many documents into a collection (a dataset whose
 * rows are the documents' text), follow each document's extraction, open the collection as
 * a sheet, read a document's text page by page, download originals. `?document=ID&page=N`
 * (a report's citation) opens that document's viewer at that page. docs/documents.md.
 */
export function DocumentsPage() {
  const { projectId } = useParams({ strict: false }) as { projectId: string };
  const queryClient = useQueryClient();
  const notices = useNotices();
  useEffect(() => rememberProject(projectId), [projectId]);
  const search = useSearch({ strict: false }) as { document?: string; page?: number };
  const navigate = useNavigate();
  const [selected, setSelected] = useState<string>(NEW_COLLECTION);
  const [viewing, setViewing] = useState<{ id: string; page?: number }>();
  const [progress, setProgress] = useState<{ sent: number; total: number; files: number }>();
  const sending = useRef<{ abort(): void }>(undefined);
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

  // A citation link names a document: open its collection and its viewer.
  const cited = useQuery({
    queryKey: ['document', projectId, search.document],
    enabled: search.document !== undefined,
    queryFn: () =>
      api<DocumentView>(
        `/api/projects/${encodeURIComponent(projectId)}/documents/${encodeURIComponent(search.document!)}`,
      ),
  });
  useEffect(() => {
    if (!cited.data) return;
    setSelected(cited.data.datasetId);
    setViewing({ id: cited.data.id, ...(search.page ? { page: search.page } : {}) });
  }, [cited.data, search.page]);

  const closeViewer = () => {
    setViewing(undefined);
    if (search.document !== undefined)
      void navigate({ to: '/projects/$projectId/documents', params: { projectId }, search: {} });
  };

  const upload = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const files = [...(input.current?.files ?? [])];
    if (files.length === 0) return;
    const name = String(new FormData(event.currentTarget).get('name') ?? '').trim();
    setError(undefined);
    const count = files.length;
    setProgress({ sent: 0, total: files.reduce((sum, file) => sum + file.size, 0), files: count });
    const handle = documentApi.upload(
      projectId,
      files,
      selected === NEW_COLLECTION ? (name ? { name } : {}) : { datasetId: selected },
      (sent, total) => setProgress({ sent, total, files: count }),
    );
    sending.current = handle;
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
        // Stopped by the user: the server keeps nothing of an unfinished upload.
        if (failure instanceof DOMException && failure.name === 'AbortError')
          notices.info('Upload stopped; nothing was added.');
        else setError(failure);
      },
    );
  };

  const items = documents.data?.items ?? [];
  const working = items.filter((item) => WORKING.has(item.status)).length;
  const failed = items.filter(
    (item) => !WORKING.has(item.status) && item.status !== 'ready',
  ).length;
  const viewed =
    viewing &&
    (items.find((item) => item.id === viewing.id) ??
      (cited.data?.id === viewing.id ? cited.data : undefined));
  // The last upload's duplicates, when it went into the collection shown.
  const duplicates = last && last.datasetId === selected ? last.duplicates : [];
  const nameOf = (id: string) => items.find((item) => item.id === id)?.name ?? id;

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
          <div className="row">
            <progress
              max={progress.total || 1}
              value={progress.sent}
              aria-label="Upload progress"
              className="grow"
            />
            <span className="muted small">
              {progress.files.toLocaleString()} file{progress.files === 1 ? '' : 's'}:{' '}
              {formatBytes(progress.sent)} of {formatBytes(progress.total)} (
              {Math.floor((progress.sent / (progress.total || 1)) * 100)}%)
            </span>
            <button type="button" onClick={() => sending.current?.abort()}>
              Stop sending
            </button>
          </div>
        )}
        <FormError error={error} />
        <div className="row">
          <button type="submit" className="primary" disabled={progress !== undefined}>
            Upload
          </button>
          {last && last.duplicates.length > 0 && (
            <span className="muted" data-testid="duplicates">
              Already in the collection:{' '}
              {last.duplicates
                .map((entry) => `${entry.name} (as ${nameOf(entry.duplicateOf)})`)
                .join(', ')}
            </span>
          )}
        </div>
      </form>
      <FormError error={collections.error ?? documents.error ?? cited.error} />
      {selected !== NEW_COLLECTION && (
        <section aria-label="Documents of the collection">
          <p className="muted" role="status">
            {items.length.toLocaleString()} documents
            {working > 0 ? ` · ${working.toLocaleString()} still extracting` : ''}
            {failed > 0 ? ` · ${failed.toLocaleString()} without text` : ''}
          </p>
          {documents.isPending && <p className="muted">Loading the documents…</p>}
          {!documents.isPending && items.length === 0 && (
            <p className="muted">No documents in this collection yet: upload some above.</p>
          )}
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
                  <th scope="col">Text</th>
                  <th scope="col">Original</th>
                </tr>
              </thead>
              <tbody>
                {duplicates.map((entry) => (
                  <tr key={`duplicate:${entry.name}:${entry.duplicateOf}`}>
                    <td>{entry.name}</td>
                    <td>—</td>
                    <td>
                      <span className="status status-duplicate">Duplicate</span>
                      <div className="muted small">
                        Same content as {nameOf(entry.duplicateOf)}; not imported again.
                      </div>
                    </td>
                    <td className="number">—</td>
                    <td className="number">—</td>
                    <td>—</td>
                    <td>—</td>
                  </tr>
                ))}
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
                      <button
                        type="button"
                        className="link-button"
                        onClick={() => setViewing({ id: item.id })}
                        aria-label={`View ${item.name}`}
                      >
                        View
                      </button>
                    </td>
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
      {viewed && (
        <DocumentViewer
          projectId={projectId}
          document={viewed}
          page={viewing?.page}
          onClose={closeViewer}
        />
      )}
    </div>
  );
}
