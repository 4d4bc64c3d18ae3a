import type { DragEvent } from 'react';
import type { Column, Row } from '../api/sheet-api.ts';
import { uploadFile } from '../api/upload.ts';

/** The grid cell under a drag event: its row index and column, if it is an image column's. */
function imageCellAt(event: DragEvent, columns: readonly Column[]) {
  const target = event.target instanceof Element ? event.target : null;
  const cell = target?.closest<HTMLElement>('[role=gridcell]');
  const row = cell?.closest<HTMLElement>('[role=row]');
  if (!cell || !row) return undefined;
  const column = columns[Number(cell.dataset.col)];
  if (column?.type !== 'image' || column.kind !== 'static') return undefined;
  return { index: Number(row.dataset.row), column };
}

/**
 * Uploads one image file into a cell of a static image column at the version the grid holds
 * (409 when it changed meanwhile). Used by drop and by paste from the clipboard.
 */
export async function uploadImageToCell(options: {
  projectId: string;
  datasetId: string;
  column: Column;
  index: number;
  file: File;
  rowsBetween: (first: number, last: number) => Promise<(Row | undefined)[]>;
}) {
  const { projectId, datasetId, column } = options;
  if (column.type !== 'image' || column.kind !== 'static')
    throw new Error('Images go into image columns that are not computed.');
  const [row] = await options.rowsBetween(options.index, options.index);
  if (!row) return;
  const version = row.cells[column.id]?.version ?? 0;
  await uploadFile(
    `/api/projects/${encodeURIComponent(projectId)}/datasets/${encodeURIComponent(datasetId)}/rows/${row.rowId}/cells/${column.id}/image?expectedVersion=${version}`,
    options.file,
    () => {},
  ).done;
}

/**
 * Dropping an image file onto a cell of an image column uploads it into that cell (at the
 * version the grid holds: a cell changed meanwhile answers 409, shown as an error). The grid
 * shows the new value when the dataset's `cells-update` event arrives, like any edit.
 */
export function imageDropHandlers(options: {
  projectId: string;
  datasetId: string;
  columns: readonly Column[];
  readOnly: boolean;
  rowsBetween: (first: number, last: number) => Promise<(Row | undefined)[]>;
  onError: (error: unknown) => void;
}) {
  const { projectId, datasetId, columns } = options;
  return {
    onDragOver(event: DragEvent) {
      if (options.readOnly || !event.dataTransfer.types.includes('Files')) return;
      if (!imageCellAt(event, columns)) return;
      event.preventDefault();
      event.dataTransfer.dropEffect = 'copy';
    },
    onDrop(event: DragEvent) {
      const target = options.readOnly ? undefined : imageCellAt(event, columns);
      const file = event.dataTransfer.files[0];
      if (!target || !file) return;
      event.preventDefault();
      uploadImageToCell({
        projectId,
        datasetId,
        column: target.column,
        index: target.index,
        file,
        rowsBetween: options.rowsBetween,
      }).catch(options.onError);
    },
  };
}
