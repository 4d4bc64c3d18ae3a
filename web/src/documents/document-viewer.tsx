import { useQuery } from '@tanstack/react-query';
import { useEffect, useState } from 'react';
import { api } from '../api/api-client.ts';
import { type DocumentView, documentApi } from '../api/document-api.ts';
import { datasetPath, type RowWindow, sheetApi } from '../api/sheet-api.ts';
import { Dialog } from '../ui/dialog.tsx';
import { FormError } from '../ui/form-error.tsx';
import { formatBytes } from '../ui/format.ts';
import { pagesOf } from './document-pages.ts';
import { STATUS_LABELS } from './document-status.ts';

/** The collection columns holding a document's text (src/documents COLLECTION_COLUMNS). */
const TEXT_COLUMN = 'Text';
const PAGE_TEXT_COLUMN = 'Page text';

/**
 * The original beside the text: a PDF in a frame at the page shown (served inline from our
 * origin, `?inline=true`), an image as an image; anything else (HTML, e-mail, DOCX, text) is
 * never rendered from its bytes — its text is what the left pane shows, and the original
 * is a download.
 */
function Original({
  projectId,
  document,
  page,
}: {
  projectId: string;
  document: DocumentView;
  page: number;
}) {
  const url = `${documentApi.originalUrl(projectId, document.id)}?inline=true`;
  if (document.mediaType === 'application/pdf')
    return (
      <iframe
        // A new page number reloads the frame at that page (the PDF viewer reads #page=N).
        key={page}
        className="original-frame"
        title={`Original: ${document.name}`}
        src={`${url}#page=${page}`}
      />
    );
  if (/^image\/(png|jpeg|gif|webp)$/.test(document.mediaType))
    return <img className="original-image" src={url} alt={`Original: ${document.name}`} />;
  return (
    <p className="muted">
      The original ({document.kind ?? document.mediaType}) is not shown in the app; download it to
      open it.
    </p>
  );
}

/**
 * One document: its status and reason, its extracted text page by page (read from the
 * collection's row, as text — never HTML) beside the original (a PDF or an image; the rest is
 * downloaded). Opened from the documents table, or by a report's `[[doc:…#pN]]` citation at
 * that page.
 */
export function DocumentViewer({
  projectId,
  document,
  page: initialPage,
  onClose,
}: {
  projectId: string;
  document: DocumentView;
  page: number | undefined;
  onClose: () => void;
}) {
  const [page, setPage] = useState(initialPage ?? 1);
  useEffect(() => setPage(initialPage ?? 1), [initialPage]);

  const text = useQuery({
    queryKey: ['document-text', projectId, document.id, document.rowId],
    enabled: document.rowId !== null,
    queryFn: async () => {
      const dataset = await sheetApi.get(projectId, document.datasetId);
      const byName = (name: string) => dataset.columns.find((column) => column.name === name)?.id;
      const columns = [byName(PAGE_TEXT_COLUMN), byName(TEXT_COLUMN)].filter(
        (id): id is string => id !== undefined,
      );
      if (columns.length === 0) return [];
      // Keyset read of exactly this row: the rows after (rowId − 1), one of them.
      const window = await api<RowWindow>(
        `${datasetPath(projectId, document.datasetId)}/rows/query`,
        {
          method: 'POST',
          body: { afterRowId: String(BigInt(document.rowId!) - 1n), limit: 1, columns },
        },
      );
      const row = window.rows.find((candidate) => candidate.rowId === document.rowId);
      if (!row) return [];
      const cell = (name: string) => {
        const id = byName(name);
        return id ? row.cells[id]?.value : undefined;
      };
      return pagesOf(cell(PAGE_TEXT_COLUMN), cell(TEXT_COLUMN));
    },
  });

  const pages = text.data ?? [];
  const shown = Math.min(Math.max(page, 1), Math.max(pages.length, 1));

  return (
    <Dialog open title={document.name} onClose={onClose} wide>
      <div className="stack">
        <p className="row small">
          <span className={`status status-${document.status}`}>
            {STATUS_LABELS[document.status]}
          </span>
          <span>{document.kind ?? document.mediaType}</span>
          <span>{formatBytes(document.size)}</span>
          {document.pages !== null && <span>{document.pages.toLocaleString()} pages</span>}
          <span className="spacer" />
          <a
            className="button"
            href={documentApi.originalUrl(projectId, document.id)}
            download={document.name}
          >
            Download original
          </a>
        </p>
        {document.message && <p className="muted">{document.message}</p>}
        <FormError error={text.error} />
        <div className="document-panes">
          <div className="document-pane">
            {document.rowId === null ? (
              <p className="muted">No text: the document is not extracted.</p>
            ) : text.isPending ? (
              <p className="muted">Loading the text…</p>
            ) : pages.length === 0 ? (
              <p className="muted">No text was extracted from this document.</p>
            ) : (
              <section aria-label="Extracted text">
                {pages.length > 1 && (
                  <nav className="row" aria-label="Pages">
                    <button type="button" disabled={shown <= 1} onClick={() => setPage(shown - 1)}>
                      ‹ Previous
                    </button>
                    <label className="inline-label">
                      Page
                      <input
                        type="number"
                        min={1}
                        max={pages.length}
                        value={shown}
                        onChange={(event) => setPage(Number(event.target.value) || 1)}
                        className="page-number"
                      />
                      of {pages.length.toLocaleString()}
                    </label>
                    <button
                      type="button"
                      disabled={shown >= pages.length}
                      onClick={() => setPage(shown + 1)}
                    >
                      Next ›
                    </button>
                  </nav>
                )}
                <h3 className="visually-hidden">Page {shown}</h3>
                <pre className="page-text" data-testid="page-text">
                  {pages[shown - 1]}
                </pre>
              </section>
            )}
          </div>
          <section className="document-pane" aria-label="Original">
            <Original projectId={projectId} document={document} page={shown} />
          </section>
        </div>
      </div>
    </Dialog>
  );
}
