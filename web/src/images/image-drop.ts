import type { DragEvent } from 'react';
import type { Column, Row } from '../api/sheet-api.ts';
import { uploadFile, uploadFiles } from '../api/upload.ts';

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

/** What adding images as rows answers: rows added, and each refused file with its reason. */
export interface ImageRowsResult {
  datasetId: string;
  imported: number;
  refused: { file: string; reason: string }[];
}

/**
 * Adds image files to a dataset as new rows, one per image, in a static image column (the
 * image import route with `datasetId` and `columnId`; files the server refuses are listed).
 */
export function addImageRows(options: {
  projectId: string;
  datasetId: string;
  column: Column;
  files: readonly File[];
}): Promise<ImageRowsResult> {
  const { projectId, datasetId, column } = options;
  return uploadFiles<ImageRowsResult>(
    `/api/projects/${encodeURIComponent(projectId)}/images/import?datasetId=${encodeURIComponent(datasetId)}&columnId=${encodeURIComponent(column.id)}`,
    options.files,
    () => {},
  ).done;
}

/** The image files among those dragged (by their declared type; the server checks the bytes). */
const imageFiles = (files: FileList) =>
  [...files].filter((file) => file.type.startsWith('image/') || /\.zip$/i.test(file.name));

/**
 * Dropping an image file onto a cell of an image column uploads it into that cell (at the
 * version the grid holds: a cell changed meanwhile answers 409, shown as an error). The grid
 * shows the new value when the dataset's `cells-update` event arrives, like any edit. Image
 * files dropped anywhere else on the grid become new rows in the dataset's first static image
 * column, one per image (the rows arrive with the `rows-append` event).
 */
export function imageDropHandlers(options: {
  projectId: string;
  datasetId: string;
  columns: readonly Column[];
  readOnly: boolean;
  rowsBetween: (first: number, last: number) => Promise<(Row | undefined)[]>;
  onError: (error: unknown) => void;
  onRowsAdded: (result: ImageRowsResult) => void;
}) {
  const { projectId, datasetId, columns } = options;
  const rowsColumn = () =>
    columns.find((column) => column.type === 'image' && column.kind === 'static');
  return {
    onDragOver(event: DragEvent) {
      if (options.readOnly || !event.dataTransfer.types.includes('Files')) return;
      if (!imageCellAt(event, columns) && !rowsColumn()) return;
      event.preventDefault();
      event.dataTransfer.dropEffect = 'copy';
    },
    onDrop(event: DragEvent) {
      if (options.readOnly) return;
      const target = imageCellAt(event, columns);
      const file = event.dataTransfer.files[0];
      if (target && file) {
        event.preventDefault();
        uploadImageToCell({
          projectId,
          datasetId,
          column: target.column,
          index: target.index,
          file,
          rowsBetween: options.rowsBetween,
        }).catch(options.onError);
        return;
      }
      const column = rowsColumn();
      const files = imageFiles(event.dataTransfer.files);
      if (!column || files.length === 0) return;
      event.preventDefault();
      addImageRows({ projectId, datasetId, column, files }).then(
        options.onRowsAdded,
        options.onError,
      );
    },
  };
}
