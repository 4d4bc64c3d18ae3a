import { useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { generationApi } from '../api/generation-api.ts';
import type { Cell, Row } from '../api/sheet-api.ts';
import { Dialog } from '../ui/dialog.tsx';
import { formatDateTime, formatInteger, formatNanoUsd } from '../ui/format.ts';
import { CellMarkdown } from './cell-markdown.tsx';
import { isImageUrl } from './cell-view.tsx';
import type { GridColumn } from './grid-types.ts';
import { HtmlPreview } from './html-preview.tsx';

interface Source {
  url?: unknown;
  title?: unknown;
  snippet?: unknown;
}

const safeHref = (url: unknown) =>
  typeof url === 'string' && /^https?:\/\//i.test(url) ? url : undefined;

/** The whole value of a cell (long text, pretty JSON, markdown, image) and its state. */
export function CellDetailDialog({
  target,
  onClose,
  ai,
}: {
  target: { row: Row; column: GridColumn } | undefined;
  onClose(): void;
  /** AI columns: where the value came from, and regenerating this one cell. */
  ai?: {
    projectId: string;
    datasetId: string;
    readOnly: boolean;
    onRegenerate(row: Row, column: GridColumn): void;
  };
}) {
  const [shownAs, setShownAs] = useState<'text' | 'markdown' | 'html'>('text');
  const isAi = target?.column.kind === 'ai' && ai !== undefined;
  const provenance = useQuery({
    queryKey: [
      'provenance',
      ai?.datasetId,
      target?.column.id,
      target?.row.rowId,
      target?.row.cells[target.column.id]?.version,
    ],
    queryFn: () =>
      generationApi.provenance(ai!.projectId, ai!.datasetId, target!.column.id, target!.row.rowId),
    enabled: isAi && target !== undefined,
  });
  const cell: Cell | undefined = target ? target.row.cells[target.column.id] : undefined;
  const value = cell?.value;
  const text =
    value === null || value === undefined
      ? ''
      : typeof value === 'object'
        ? JSON.stringify(value, null, 2)
        : String(value);
  const sources = Array.isArray(cell?.sources) ? (cell.sources as Source[]) : [];
  return (
    <Dialog
      open={target !== undefined}
      title={target ? `${target.column.name} — row ${target.row.ordinal}` : ''}
      onClose={onClose}
      wide
    >
      {target && cell && (
        <div className="stack">
          {target.column.type === 'text' && (
            <div className="row">
              <label className="checkbox">
                <input
                  type="checkbox"
                  checked={shownAs === 'markdown'}
                  onChange={(event) => setShownAs(event.target.checked ? 'markdown' : 'text')}
                />
                Show as markdown
              </label>
              <label className="checkbox">
                <input
                  type="checkbox"
                  checked={shownAs === 'html'}
                  onChange={(event) => setShownAs(event.target.checked ? 'html' : 'text')}
                />
                Show as HTML preview
              </label>
            </div>
          )}
          {isImageUrl(text) && (
            <img className="detail-image" src={text.trim()} alt="" referrerPolicy="no-referrer" />
          )}
          {shownAs === 'markdown' ? (
            <CellMarkdown text={text} className="markdown cell-detail" />
          ) : shownAs === 'html' ? (
            <HtmlPreview html={text} className="cell-detail-html" />
          ) : (
            <pre className="cell-text cell-detail">{text}</pre>
          )}
          {isAi && (
            <div className="row" data-testid="provenance">
              {provenance.data && (
                <span
                  className={provenance.data.current.upToDate ? 'badge' : 'badge badge-warning'}
                >
                  {provenance.data.current.upToDate
                    ? 'Up to date with the prompt and inputs'
                    : 'Made by an older prompt or from older inputs'}
                </span>
              )}
              {provenance.error ? (
                <span className="cell-error-text">Provenance unavailable</span>
              ) : null}
              {!ai.readOnly && (
                <button type="button" onClick={() => ai.onRegenerate(target.row, target.column)}>
                  Regenerate this cell
                </button>
              )}
            </div>
          )}
          <dl className="cell-meta">
            <dt>Status</dt>
            <dd>
              {cell.status}
              {cell.validated ? ' · validated' : ''}
            </dd>
            {cell.error && (
              <>
                <dt>Error</dt>
                <dd className="cell-error-text">{cell.error}</dd>
              </>
            )}
            {cell.raw && (
              <>
                <dt>Raw text</dt>
                <dd>
                  <pre className="cell-text">{cell.raw}</pre>
                </dd>
              </>
            )}
            {cell.model && (
              <>
                <dt>Model</dt>
                <dd>{cell.model}</dd>
                <dt>Tokens</dt>
                <dd>
                  {formatInteger(cell.inputTokens)} in · {formatInteger(cell.outputTokens)} out
                </dd>
                <dt>Cost</dt>
                <dd>{formatNanoUsd(cell.costNanoUsd)}</dd>
                <dt>Latency</dt>
                <dd>{cell.latencyMs === null ? '—' : `${cell.latencyMs} ms`}</dd>
              </>
            )}
            <dt>Version</dt>
            <dd>{cell.version}</dd>
            <dt>Updated</dt>
            <dd>{formatDateTime(cell.updatedAt)}</dd>
          </dl>
          {sources.length > 0 && (
            <section>
              <h3>Sources</h3>
              <ul>
                {sources.map((source, index) => (
                  // biome-ignore lint/suspicious/noArrayIndexKey: sources have no id and never reorder
                  <li key={index}>
                    {safeHref(source.url) ? (
                      <a
                        href={safeHref(source.url)}
                        target="_blank"
                        rel="noopener noreferrer nofollow"
                      >
                        {String(source.title ?? source.url)}
                      </a>
                    ) : (
                      String(source.title ?? '')
                    )}
                    {typeof source.snippet === 'string' && (
                      <p className="muted">{source.snippet}</p>
                    )}
                  </li>
                ))}
              </ul>
            </section>
          )}
        </div>
      )}
    </Dialog>
  );
}
