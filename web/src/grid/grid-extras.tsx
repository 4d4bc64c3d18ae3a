import { useEffect, useSyncExternalStore } from 'react';
import type { Column } from '../api/sheet-api.ts';
import { Dialog } from '../ui/dialog.tsx';
import { valueToText } from './clipboard-text.ts';
import { type GridColumn, type Selection, selectionBounds } from './grid-types.ts';
import type { RowCache } from './row-cache.ts';
import { MAX_STATS_CELLS, selectionStats } from './selection-stats.ts';

const statFormat = new Intl.NumberFormat(undefined, { maximumFractionDigits: 4 });

/**
 * The grid's footer: count of the selected range's non-empty cells, and sum and average of
 * its numeric ones (number and integer columns). Follows live updates of the rows it covers.
 */
export function SelectionFooter({
  cache,
  columns,
  selection,
}: {
  cache: RowCache;
  columns: readonly GridColumn[];
  selection: Selection;
}) {
  useSyncExternalStore(cache.subscribe, cache.getVersion);
  const { top, bottom, left, right } = selectionBounds(selection);
  const cells = (bottom - top + 1) * (right - left + 1);
  let body: string;
  if (cells <= 1) body = '';
  else if (cells > MAX_STATS_CELLS) body = `${cells.toLocaleString()} cells selected`;
  else {
    const rows = [];
    for (let index = top; index <= bottom; index++) rows.push(cache.rowAt(index));
    const stats = selectionStats(rows, columns.slice(left, right + 1));
    const parts = [`Count ${stats.count.toLocaleString()}`];
    if (stats.numeric > 0) {
      parts.push(`Sum ${statFormat.format(stats.sum)}`);
      parts.push(`Average ${statFormat.format(stats.sum / stats.numeric)}`);
    }
    if (stats.missingRows > 0)
      parts.push(`(${stats.missingRows.toLocaleString()} rows not loaded yet)`);
    body = parts.join(' · ');
  }
  return (
    <div className="selection-stats muted" data-testid="selection-stats" aria-live="polite">
      {body}
    </div>
  );
}

/** Every column with a show/hide switch, and "Show all" (hidden is stored on the column). */
export function ColumnsPanel({
  open,
  columns,
  readOnly,
  onClose,
  onSetHidden,
}: {
  open: boolean;
  columns: readonly Column[];
  readOnly: boolean;
  onClose(): void;
  onSetHidden(columns: readonly Column[], hidden: boolean): void;
}) {
  const hidden = columns.filter((column) => column.hidden);
  return (
    <Dialog open={open} title="Columns" onClose={onClose}>
      <div className="columns-panel">
        {columns.map((column) => (
          <label key={column.id} className="checkbox">
            <input
              type="checkbox"
              checked={!column.hidden}
              disabled={readOnly}
              onChange={(event) => onSetHidden([column], !event.target.checked)}
            />
            {column.name}
          </label>
        ))}
      </div>
      <div className="dialog-actions">
        <button
          type="button"
          disabled={readOnly || hidden.length === 0}
          onClick={() => onSetHidden(hidden, false)}
        >
          Show all
        </button>
        <button type="button" className="primary" onClick={onClose}>
          Done
        </button>
      </div>
    </Dialog>
  );
}

/** One row as a form: every column's name and whole value, with previous / next. */
export function RecordView({
  index,
  total,
  cache,
  columns,
  onMove,
  onClose,
}: {
  index: number | undefined;
  total: number;
  cache: RowCache;
  columns: readonly Column[];
  onMove(index: number): void;
  onClose(): void;
}) {
  useSyncExternalStore(cache.subscribe, cache.getVersion);
  const row = index === undefined ? undefined : cache.rowAt(index);
  // A row scrolled out of the cache (next / previous past what is loaded): fetch it.
  useEffect(() => {
    if (index !== undefined && !cache.isLoaded(index)) cache.ensure(index, index, 0);
  }, [cache, index]);
  return (
    <Dialog
      open={index !== undefined}
      title={index === undefined ? 'Record' : `Row ${(index + 1).toLocaleString()}`}
      onClose={onClose}
      wide
    >
      {row ? (
        <dl className="record-view" data-testid="record-view">
          {columns.map((column) => (
            <div key={column.id} style={{ display: 'contents' }}>
              <dt>
                {column.name}
                {column.hidden ? <span className="muted"> (hidden)</span> : null}
              </dt>
              <dd>{valueToText(row.cells[column.id]?.value)}</dd>
            </div>
          ))}
        </dl>
      ) : (
        <p className="muted">Loading…</p>
      )}
      <div className="dialog-actions">
        <button
          type="button"
          disabled={index === undefined || index <= 0}
          onClick={() => index !== undefined && onMove(index - 1)}
        >
          ← Previous row
        </button>
        <button
          type="button"
          disabled={index === undefined || index >= total - 1}
          onClick={() => index !== undefined && onMove(index + 1)}
        >
          Next row →
        </button>
      </div>
    </Dialog>
  );
}
