import { useQueryClient } from '@tanstack/react-query';
import { useNavigate } from '@tanstack/react-router';
import { useCallback, useEffect, useMemo, useRef, useState, useSyncExternalStore } from 'react';
import { AiColumnPanel } from '../ai/ai-column-panel.tsx';
import { RunStrip } from '../ai/run-strip.tsx';
import { useRuns } from '../ai/use-runs.ts';
import { ApiError, describeError } from '../api/api-error.ts';
import { ACTIVE_RUN_STATUSES, generationApi, type RunMode } from '../api/generation-api.ts';
import {
  type CellValue,
  type Column,
  type Dataset,
  type Filter,
  type Row,
  type Sort,
  sheetApi,
} from '../api/sheet-api.ts';
import type { SavedView } from '../api/view-api.ts';
import { imageDropHandlers, uploadImageToCell } from '../images/image-drop.ts';
import { useConfirm } from '../ui/confirm.tsx';
import { ErrorBoundary } from '../ui/error-boundary.tsx';
import { useAnnouncer } from '../ui/live-region.tsx';
import { useNotices } from '../ui/notices.tsx';
import { CellDetailDialog } from './cell-detail-dialog.tsx';
import {
  type CellWriteRequest,
  MAX_CELLS_PER_REQUEST,
  recreateRows,
  restoreCells,
  saveCell,
  saveCells,
} from './cell-edits.ts';
import { ParseError, textToValue } from './clipboard-text.ts';
import { ColumnDialog } from './column-dialog.tsx';
import { type Conflict, ConflictDialog } from './conflict-dialog.tsx';
import { FIRST_PAGE_ROWS, takeFirstWindow } from './dataset-query.ts';
import { DatasetToolbar } from './dataset-toolbar.tsx';
import { FilterDialog } from './filter-dialog.tsx';
import { FormulaDialog } from './formula-dialog.tsx';
import { GenerateRowsDialog } from './generate-rows-dialog.tsx';
import { Grid, type GridHandle } from './grid.tsx';
import { ColumnsPanel, RecordView, SelectionFooter } from './grid-extras.tsx';
import type { ColumnAction, HeaderActions } from './grid-header.tsx';
import {
  type CellPosition,
  type GridColumn,
  type Selection,
  selectionBounds,
} from './grid-types.ts';
import { RowCache, type ViewQuery } from './row-cache.ts';
import { useSavedViews } from './saved-views.tsx';
import { SqlPanel } from './sql-panel.tsx';
import { cellBefore, MAX_UNDO_ROWS, pushUndo, type UndoEntry } from './undo.ts';
import { useDatasetEvents } from './use-dataset-events.ts';
import { DEFAULT_WIDTH, ROW_HEIGHTS, useViewPrefs } from './view-prefs.ts';

/** Pasting or clearing more cells than this at once is refused (the server's bulk cap). */
const MAX_BULK_EDIT = MAX_CELLS_PER_REQUEST;

interface DatasetViewProps {
  projectId: string;
  dataset: Dataset;
  readOnly: boolean;
  /** A row to scroll to and select once the grid is up (`?row=<rowId>`, a report's citation). */
  focusRowId?: string | undefined;
}

type PendingConflict = Conflict & { row: Row; column: GridColumn };

const isDefaultView = (view: ViewQuery) =>
  view.sort.length === 0 && view.filters.length === 0 && !view.search;

export function DatasetView({ projectId, dataset, readOnly, focusRowId }: DatasetViewProps) {
  const queryClient = useQueryClient();
  const navigate = useNavigate();
  const notices = useNotices();
  const confirm = useConfirm();
  const { announce } = useAnnouncer();
  const grid = useRef<GridHandle>(null);
  const datasetKey = useMemo(() => ['dataset', projectId, dataset.id], [projectId, dataset.id]);
  const [prefs, setPrefs] = useViewPrefs(dataset.id);
  const [view, setView] = useState<ViewQuery>({ sort: [], filters: [], search: '' });
  const [selection, setSelection] = useState<Selection>({
    anchor: { row: 0, col: 0 },
    focus: { row: 0, col: 0 },
  });
  const selectionRef = useRef(selection);
  selectionRef.current = selection;
  const [sqlOpen, setSqlOpen] = useState(false);
  const [filterColumn, setFilterColumn] = useState<Column>();
  const [columnDialog, setColumnDialog] = useState<{ editing?: Column } | undefined>();
  const [formulaDialog, setFormulaDialog] = useState<{ editing?: Column } | undefined>();
  const [detail, setDetail] = useState<{ row: Row; column: GridColumn }>();
  const [conflict, setConflict] = useState<PendingConflict>();
  const [aiPanel, setAiPanel] = useState<{ columnId?: string } | undefined>();
  const [generateRows, setGenerateRows] = useState(false);
  const [columnsPanel, setColumnsPanel] = useState(false);
  const [record, setRecord] = useState<number>();
  // The saved view picked (saved-views.tsx) and, while one is, the columns it hides: the
  // view's hidden set applies to this grid only, without changing the dataset's columns.
  const [activeView, setActiveView] = useState<SavedView>();
  const [viewHidden, setViewHidden] = useState<string[]>();
  const isHidden = useCallback(
    (column: Column) => (viewHidden ? viewHidden.includes(column.id) : column.hidden),
    [viewHidden],
  );

  const cache = useMemo(
    () =>
      new RowCache({
        fetchWindow: (offset, limit, signal) =>
          (offset === 0 && limit === FIRST_PAGE_ROWS && isDefaultView(view)
            ? takeFirstWindow(dataset.id)
            : undefined) ??
          sheetApi.window(
            projectId,
            dataset.id,
            {
              offset,
              limit,
              sort: view.sort,
              filters: view.filters,
              ...(view.search ? { search: view.search } : {}),
            },
            signal,
          ),
        onError: notices.error,
        schedule: (callback) => requestAnimationFrame(callback),
      }),
    [projectId, dataset.id, view, notices.error],
  );
  const filtered = view.filters.length > 0 || view.search !== '';
  // The toolbar's row count follows the cache (a filter's count arrives with its first window).
  const knownTotal = useSyncExternalStore(cache.subscribe, () => cache.total);
  const allColumnsForNames = dataset.columns;
  const columnName = useCallback(
    (columnId: string) =>
      allColumnsForNames.find((column) => column.id === columnId)?.name ?? 'Column',
    [allColumnsForNames],
  );
  const runs = useRuns(projectId, dataset.id, columnName);
  // The cited row's place in the default order is the offset of the window that starts just
  // after the id before it; the grid then scrolls to that row and selects it.
  useEffect(() => {
    if (focusRowId === undefined) return;
    if (!/^[1-9]\d{0,17}$/.test(focusRowId)) {
      notices.error(new Error(`“${focusRowId.slice(0, 40)}” is not a row id`));
      return;
    }
    let cancelled = false;
    sheetApi
      .window(projectId, dataset.id, {
        offset: 0,
        limit: 1,
        afterRowId: (BigInt(focusRowId) - 1n).toString(),
      })
      .then((window) => {
        if (cancelled) return;
        if (window.rows[0]?.rowId !== focusRowId) {
          notices.error(new Error(`Row ${focusRowId} is not in this dataset (deleted?)`));
          return;
        }
        requestAnimationFrame(() => grid.current?.scrollToRow(window.offset));
        announce(`Row ${window.offset + 1} selected`);
      }, notices.error);
    return () => {
      cancelled = true;
    };
  }, [focusRowId, projectId, dataset.id, notices.error, announce]);
  const stream = useDatasetEvents(projectId, dataset.id, cache, { onRunProgress: runs.onProgress });

  const allColumns = useMemo(
    () => [...dataset.columns].sort((a, b) => a.position - b.position),
    [dataset.columns],
  );
  // Columns a run is working on: their pending cells are queued, the others' "Not generated".
  const activeRunColumns = runs.runs
    .filter((run) => run.columnId && ACTIVE_RUN_STATUSES.includes(run.status))
    .map((run) => run.columnId!)
    .sort()
    .join(',');
  const columns: GridColumn[] = useMemo(() => {
    const generating = new Set(activeRunColumns.split(','));
    return allColumns
      .filter((column) => !isHidden(column))
      .map((column) => ({
        ...column,
        width: prefs.widths[column.id] ?? DEFAULT_WIDTH,
        markdown: prefs.markdown[column.id] ?? false,
        images: prefs.images[column.id] ?? true,
        html: prefs.html?.[column.id] ?? false,
        generating: generating.has(column.id),
      }));
  }, [allColumns, prefs, activeRunColumns, isHidden]);

  // A run ending changes which cells are up to date: the AI panel's estimate follows.
  useEffect(() => {
    void activeRunColumns;
    void queryClient.invalidateQueries({ queryKey: ['ai-estimate', projectId, dataset.id] });
  }, [activeRunColumns, queryClient, projectId, dataset.id]);

  // A column just created in the AI panel: bring it into view beside the panel once it exists.
  const [revealColumnId, setRevealColumnId] = useState<string>();
  useEffect(() => {
    if (!revealColumnId) return;
    const index = columns.findIndex((column) => column.id === revealColumnId);
    if (index < 0) return;
    setRevealColumnId(undefined);
    requestAnimationFrame(() => grid.current?.revealColumn(index));
  }, [revealColumnId, columns]);

  const refreshDataset = useCallback(
    () => queryClient.invalidateQueries({ queryKey: datasetKey }),
    [queryClient, datasetKey],
  );
  const setColumns = useCallback(
    (next: Column[]) =>
      queryClient.setQueryData<Dataset>(datasetKey, (previous) =>
        previous ? { ...previous, columns: next } : previous,
      ),
    [queryClient, datasetKey],
  );

  const reorder = useCallback(
    async (columnId: string, targetId: string, after: boolean) => {
      const ids = allColumns.map((column) => column.id).filter((id) => id !== columnId);
      const at = ids.indexOf(targetId);
      ids.splice(after ? at + 1 : at, 0, columnId);
      try {
        const { items } = await sheetApi.reorderColumns(projectId, dataset.id, ids);
        setColumns(items);
      } catch (error) {
        notices.error(error);
      }
    },
    [allColumns, projectId, dataset.id, setColumns, notices],
  );

  const headerActions: HeaderActions = useMemo(() => {
    const setSort = (sort: Sort[]) => setView((previous) => ({ ...previous, sort }));
    return {
      onSort(columnId, additive) {
        const existing = view.sort.find((item) => item.columnId === columnId);
        const cycled: Sort | undefined = !existing
          ? { columnId, direction: 'asc' }
          : existing.direction === 'asc'
            ? { columnId, direction: 'desc' }
            : undefined;
        const others = additive ? view.sort.filter((item) => item.columnId !== columnId) : [];
        setSort(cycled ? [...others, cycled].slice(-5) : others);
      },
      onResize(columnId, width) {
        setPrefs((previous) => ({
          ...previous,
          widths: { ...previous.widths, [columnId]: width },
        }));
      },
      onReorder(columnId, toIndex) {
        const target = columns[toIndex];
        const from = columns.findIndex((column) => column.id === columnId);
        if (target) void reorder(columnId, target.id, from < toIndex);
      },
      onAction(action: ColumnAction, column: GridColumn) {
        const index = columns.findIndex((candidate) => candidate.id === column.id);
        switch (action) {
          case 'sort-asc':
          case 'sort-desc':
            setSort([{ columnId: column.id, direction: action === 'sort-asc' ? 'asc' : 'desc' }]);
            break;
          case 'sort-clear':
            setSort(view.sort.filter((item) => item.columnId !== column.id));
            break;
          case 'filter':
            setFilterColumn(column);
            break;
          case 'toggle-markdown':
            setPrefs((previous) => ({
              ...previous,
              markdown: { ...previous.markdown, [column.id]: !column.markdown },
            }));
            break;
          case 'toggle-html':
            setPrefs((previous) => ({
              ...previous,
              html: { ...previous.html, [column.id]: !column.html },
            }));
            break;
          case 'toggle-images':
            setPrefs((previous) => ({
              ...previous,
              images: { ...previous.images, [column.id]: !column.images },
            }));
            break;
          case 'move-left':
            if (index > 0) void reorder(column.id, columns[index - 1]!.id, false);
            break;
          case 'move-right':
            if (index < columns.length - 1) void reorder(column.id, columns[index + 1]!.id, true);
            break;
          case 'hide':
            if (viewHidden) {
              setViewHidden([...viewHidden, column.id]);
              break;
            }
            void sheetApi
              .updateColumn(projectId, dataset.id, column.id, { hidden: true })
              .then(() => refreshDataset(), notices.error);
            break;
          case 'rename':
            setColumnDialog({ editing: column });
            break;
          case 'edit-formula':
            setFormulaDialog({ editing: column });
            break;
          case 'edit-ai':
            setSqlOpen(false);
            setAiPanel({ columnId: column.id });
            break;
          case 'regenerate-all':
            setSqlOpen(false);
            setAiPanel({ columnId: column.id });
            notices.info('Choose “All cells” at the top of the panel and run it.');
            break;
          case 'regenerate-errors':
          case 'regenerate-stale':
          case 'regenerate-empty':
          case 'regenerate-selection': {
            const mode: RunMode =
              action === 'regenerate-errors'
                ? 'errors'
                : action === 'regenerate-stale'
                  ? 'stale'
                  : action === 'regenerate-empty'
                    ? 'empty'
                    : 'cells';
            const { top, bottom } = selectionBounds(selectionRef.current);
            const rowIds = mode === 'cells' ? cache.rowIdsBetween(top, bottom) : undefined;
            void generationApi
              .startRun(projectId, dataset.id, column.id, {
                mode,
                ...(rowIds ? { rowIds, includeValidated: true } : {}),
              })
              .then(runs.upsert, notices.error);
            break;
          }
          case 'delete': {
            const remove = (force: boolean): Promise<void> =>
              sheetApi.deleteColumn(projectId, dataset.id, column.id, force).then(
                () => refreshDataset(),
                async (error: unknown) => {
                  // AI columns read it: the server names them; deleting anyway is the user's call.
                  const forceable =
                    error instanceof ApiError &&
                    error.code === 'CONFLICT' &&
                    (error.details as { canForce?: unknown } | undefined)?.canForce === true;
                  if (
                    !force &&
                    forceable &&
                    (await confirm({
                      title: 'Other columns use this one',
                      message: `${(error as ApiError).message}.\n\nDelete it anyway?`,
                      confirmLabel: 'Delete anyway',
                      danger: true,
                    }))
                  )
                    return remove(true);
                  if (!forceable || force) notices.error(error);
                },
              );
            void confirm({
              title: 'Delete column?',
              message: `Delete the column “${column.name}” and all its values? This cannot be undone.`,
              confirmLabel: 'Delete column',
              danger: true,
            }).then((yes) => (yes ? remove(false) : undefined));
            break;
          }
        }
      },
    };
  }, [
    view.sort,
    columns,
    setPrefs,
    reorder,
    projectId,
    dataset.id,
    refreshDataset,
    notices,
    confirm,
    cache,
    runs.upsert,
    viewHidden,
  ]);

  // Undo: the latest changes made here, newest last (see undo.ts for what each restores).
  const undoStack = useRef<UndoEntry[]>([]);
  const undoing = useRef(false);

  const undoEntry = async (entry: UndoEntry) => {
    if (undoing.current) return;
    if (undoStack.current.at(-1) !== entry) {
      notices.info('That change was already undone.');
      return;
    }
    undoing.current = true;
    undoStack.current.pop();
    const where = { projectId, datasetId: dataset.id };
    try {
      if (entry.kind === 'cells') {
        const outcome = await restoreCells(cache, where, entry.cells);
        const parts = [
          `Undid ${entry.label}: ${outcome.restored.toLocaleString()} cell${outcome.restored === 1 ? '' : 's'} restored`,
        ];
        if (outcome.conflicts.length > 0) {
          const first = outcome.conflicts[0]!.cell;
          parts.push(
            outcome.conflicts.length === 1
              ? `row ${first.ordinal} was changed since and keeps its newer value`
              : `${outcome.conflicts.length.toLocaleString()} cells were changed since and keep their newer values (first: row ${first.ordinal})`,
          );
        }
        if (outcome.failed)
          parts.push(`${outcome.failed.toLocaleString()} failed (${describeError(outcome.error)})`);
        const message = `${parts.join('; ')}.`;
        announce(message);
        if (outcome.conflicts.length > 0 || outcome.failed) notices.error(new Error(message));
        else notices.info(message);
      } else {
        const created = await recreateRows(where, entry.rows, allColumns);
        cache.setTotal((cache.total ?? 0) + created);
        cache.invalidate();
        const message = `Undid ${entry.label}: ${created.toLocaleString()} row${created === 1 ? '' : 's'} re-created at the end.`;
        announce(message);
        notices.info(message);
      }
    } catch (error) {
      notices.error(error);
    } finally {
      undoing.current = false;
    }
  };
  const undoRef = useRef(undoEntry);
  undoRef.current = undoEntry;

  /** Records an undoable change and offers it in a toast (Ctrl+Z does the same). */
  const remember = (entry: UndoEntry, message: string, isError = false) => {
    pushUndo(undoStack.current, entry);
    if (isError) notices.error(new Error(message));
    else notices.info(message, { label: 'Undo', run: () => void undoRef.current(entry) });
  };

  // Ctrl+Z / Cmd+Z anywhere on the page but in a text field (those keep their own undo).
  useEffect(() => {
    if (readOnly) return;
    const onKey = (event: globalThis.KeyboardEvent) => {
      if (!(event.ctrlKey || event.metaKey) || event.shiftKey || event.altKey) return;
      if (event.key !== 'z' && event.key !== 'Z') return;
      const element = event.target as HTMLElement | null;
      if (element?.closest('input, textarea, select, [contenteditable=true], dialog[open]')) return;
      if (document.querySelector('dialog[open]')) return;
      event.preventDefault();
      const entry = undoStack.current.at(-1);
      if (entry) void undoRef.current(entry);
      else notices.info('Nothing to undo.');
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [readOnly, notices]);

  const target = (row: Row, columnId: string) => ({
    projectId,
    datasetId: dataset.id,
    row,
    columnId,
  });

  const onEdit = async (row: Row, column: GridColumn, value: CellValue) => {
    const outcome = await saveCell(cache, target(row, column.id), { value });
    if (outcome.status === 'conflict') {
      setConflict({
        row,
        column,
        columnName: column.name,
        rowOrdinal: row.ordinal,
        mine: value,
        theirs: outcome.theirs,
      });
    } else {
      const message = `Saved row ${row.ordinal}, ${column.name}`;
      announce(message);
      remember(
        {
          kind: 'cells',
          label: `the edit of row ${row.ordinal}, ${column.name}`,
          cells: [cellBefore(row, column.id, outcome.cell)],
        },
        `${message}.`,
      );
    }
  };

  const onValidate = (row: Row, column: GridColumn) => {
    if (readOnly || column.kind === 'formula') return;
    const validated = !row.cells[column.id]?.validated;
    void saveCell(cache, target(row, column.id), { validated })
      .then((outcome) => {
        if (outcome.status === 'conflict')
          notices.info(
            'The cell changed meanwhile; its new value is shown. Validate again if it is right.',
          );
        else
          announce(
            validated
              ? `Validated row ${row.ordinal}, ${column.name}`
              : `Removed validation of row ${row.ordinal}, ${column.name}`,
          );
      })
      .catch(notices.error);
  };

  /**
   * Writes a block of values starting at `start` (paste) or clears a selection, through the
   * bulk endpoint: rows not loaded yet are fetched first (the server needs the versions the
   * user is overwriting), one request per 10,000 cells.
   */
  const writeBlock = async (
    start: CellPosition,
    values: (string | null)[][],
    action: 'paste' | 'clear',
  ) => {
    const cells = values.reduce((sum, line) => sum + line.length, 0);
    if (cells > MAX_BULK_EDIT) {
      notices.error(
        new Error(
          `That is ${cells.toLocaleString()} cells; paste or clear at most ${MAX_BULK_EDIT.toLocaleString()} at a time.`,
        ),
      );
      return;
    }
    const last = Math.min(start.row + values.length, cache.total ?? 0) - 1;
    const rows = last >= start.row ? await cache.rowsBetween(start.row, last) : [];
    const writes: CellWriteRequest[] = [];
    let invalid = 0;
    let skipped = 0;
    values.forEach((line, rowOffset) => {
      const row = rows[rowOffset];
      line.forEach((text, colOffset) => {
        const column = columns[start.col + colOffset];
        if (!row || !column || column.kind === 'formula') {
          skipped += 1;
          return;
        }
        try {
          writes.push({
            row,
            columnId: column.id,
            value: text === null ? null : textToValue(text, column.type),
          });
        } catch (error) {
          if (!(error instanceof ParseError)) throw error;
          invalid += 1;
        }
      });
    });
    const outcome = await saveCells(cache, { projectId, datasetId: dataset.id }, writes);
    const conflicts = outcome.conflicts.length;
    const parts = [`${outcome.saved.toLocaleString()} cells saved`];
    if (conflicts)
      parts.push(
        conflicts === 1
          ? '1 cell was changed by someone else meanwhile and keeps their value'
          : `${conflicts.toLocaleString()} cells were changed by someone else meanwhile and keep their values`,
      );
    if (invalid) parts.push(`${invalid.toLocaleString()} did not fit the column type`);
    if (outcome.failed)
      parts.push(`${outcome.failed.toLocaleString()} failed (${describeError(outcome.error)})`);
    if (skipped) parts.push(`${skipped.toLocaleString()} outside editable cells`);
    const message = `${parts.join('; ')}.`;
    announce(message);
    const single = conflicts === 1 ? outcome.conflicts[0]! : undefined;
    const column = single && columns.find((candidate) => candidate.id === single.write.columnId);
    if (single && column) {
      // One conflict is shown like a single edit's: your value vs theirs.
      setConflict({
        row: single.write.row,
        column,
        columnName: column.name,
        rowOrdinal: single.write.row.ordinal,
        mine: single.write.value,
        theirs: single.theirs,
      });
    }
    remember(
      {
        kind: 'cells',
        label: `the ${action}`,
        cells: outcome.written.map(({ write, cell }) =>
          cellBefore(write.row, write.columnId, cell),
        ),
      },
      message,
      conflicts > 0 || invalid > 0 || outcome.failed > 0,
    );
  };

  const onClear = (current: Selection) => {
    const { top, bottom, left, right } = selectionBounds(current);
    // No question asked: a clear can be undone (Ctrl+Z or the toast).
    const block = Array.from({ length: bottom - top + 1 }, () =>
      Array.from({ length: right - left + 1 }, () => null),
    );
    void writeBlock({ row: top, col: left }, block, 'clear');
  };

  const addRow = async () => {
    try {
      await sheetApi.appendRows(projectId, dataset.id, [{}]);
      const total = (cache.total ?? dataset.rowCount ?? 0) + 1;
      cache.setTotal(total);
      cache.invalidate();
      requestAnimationFrame(() => grid.current?.scrollToRow(total - 1));
      announce('Row added at the end');
    } catch (error) {
      notices.error(error);
    }
  };

  const deleteRows = async () => {
    const { top, bottom } = selectionBounds(selection);
    if (bottom - top >= 100_000) {
      notices.error(new Error('Select at most 100,000 rows to delete at once.'));
      return;
    }
    // Rows not on screen (or refreshing) are fetched first: deleting needs their ids.
    const rows = (await cache.rowsBetween(top, bottom)).flatMap((row) => (row ? [row] : []));
    const ids = rows.map((row) => row.rowId);
    if (ids.length === 0) return;
    const undoable = rows.length <= MAX_UNDO_ROWS;
    const count = `${ids.length.toLocaleString()} row${ids.length === 1 ? '' : 's'}`;
    if (
      !(await confirm({
        title: `Delete ${count}?`,
        message: undoable
          ? `Delete ${count}? Undo (Ctrl+Z) brings ${ids.length === 1 ? 'its' : 'their'} values back as new rows at the end.`
          : `Delete ${count}? More than ${MAX_UNDO_ROWS.toLocaleString()} rows cannot be undone.`,
        confirmLabel: `Delete ${count}`,
        danger: true,
      }))
    )
      return;
    try {
      const { deleted } = await sheetApi.deleteRows(projectId, dataset.id, ids);
      cache.setTotal(Math.max(0, (cache.total ?? 0) - deleted));
      cache.invalidate();
      const message = `${deleted.toLocaleString()} row${deleted === 1 ? '' : 's'} deleted`;
      announce(message);
      if (undoable)
        remember({ kind: 'rows', label: `the delete of ${count}`, rows }, `${message}.`);
      else notices.info(`${message}.`);
    } catch (error) {
      notices.error(error);
    }
  };

  // Sorting or filtering starts a new cache: announce the new count when it arrives.
  useEffect(() => {
    if (!filtered) return;
    return cache.subscribe(() => {
      if (cache.total !== undefined) announce(`${cache.total.toLocaleString()} rows match`);
    });
  }, [cache, filtered, announce]);

  const hidden = allColumns.filter(isHidden);
  const density = prefs.density ?? 'comfortable';
  const filteredColumnIds = useMemo(
    () => new Set(view.filters.map((filter) => filter.columnId)),
    [view.filters],
  );
  const setHidden = (targets: readonly Column[], hide: boolean) => {
    if (viewHidden) {
      const ids = new Set(targets.map((column) => column.id));
      setViewHidden(
        hide
          ? [...viewHidden, ...[...ids].filter((id) => !viewHidden.includes(id))]
          : viewHidden.filter((id) => !ids.has(id)),
      );
      return;
    }
    void Promise.all(
      targets.map((column) =>
        sheetApi.updateColumn(projectId, dataset.id, column.id, { hidden: hide }),
      ),
    ).then(() => refreshDataset(), notices.error);
  };
  const applyView = (saved: SavedView | undefined) => {
    setActiveView(saved);
    setViewHidden(saved ? saved.hiddenColumnIds : undefined);
    setView(
      saved
        ? { filters: saved.filters, sort: saved.sort, search: saved.search }
        : { sort: [], filters: [], search: '' },
    );
  };
  const currentDefinition = {
    filters: view.filters,
    sort: view.sort,
    search: view.search,
    hiddenColumnIds: hidden.map((column) => column.id),
  };
  const savedViews = useSavedViews({
    projectId,
    datasetId: dataset.id,
    readOnly,
    active: activeView,
    current: currentDefinition,
    onApply: applyView,
  });
  const { top, bottom } = selectionBounds(selection);

  return (
    <div className="dataset-page">
      <DatasetToolbar
        projectId={projectId}
        dataset={dataset}
        total={knownTotal ?? (filtered ? 0 : (dataset.rowCount ?? 0))}
        filtered={filtered}
        stream={stream}
        readOnly={readOnly}
        filters={view.filters}
        columns={allColumns}
        hidden={hidden}
        search={view.search}
        selectedRows={bottom - top + 1}
        onSearch={(search) => setView((previous) => ({ ...previous, search }))}
        onRemoveFilter={(index: number) =>
          setView((previous) => ({
            ...previous,
            filters: previous.filters.filter((_, at) => at !== index),
          }))
        }
        onShowColumn={(column) => setHidden([column], false)}
        density={density}
        onDensity={(next) => setPrefs((previous) => ({ ...previous, density: next }))}
        onOpenColumns={() => setColumnsPanel(true)}
        onOpenRecord={() => setRecord(selection.focus.row)}
        savedViews={savedViews}
        onAddRow={addRow}
        onDeleteRows={deleteRows}
        onAddColumn={() => setColumnDialog({})}
        onAddFormula={() => setFormulaDialog({})}
        onToggleSql={() => {
          setAiPanel(undefined);
          setSqlOpen((open) => !open);
        }}
        onAddAi={() => {
          setSqlOpen(false);
          setAiPanel({});
        }}
        onGenerateRows={() => setGenerateRows(true)}
        onDeleted={() =>
          void navigate({ to: '/projects/$projectId/datasets', params: { projectId } })
        }
      />
      <RunStrip
        projectId={projectId}
        datasetId={dataset.id}
        runs={runs.runs}
        columnName={columnName}
        readOnly={readOnly}
        onChanged={runs.upsert}
        onDismiss={runs.dismiss}
      />
      <div className="dataset-body">
        <div
          className="grid-column"
          {...imageDropHandlers({
            projectId,
            datasetId: dataset.id,
            columns,
            readOnly,
            rowsBetween: (first, last) => cache.rowsBetween(first, last),
            onError: notices.error,
            onRowsAdded: ({ imported, refused }) => {
              const added = `${imported.toLocaleString()} image${imported === 1 ? '' : 's'} added`;
              notices.info(
                refused.length === 0
                  ? added
                  : `${added}; refused: ${refused.map((item) => `${item.file} (${item.reason})`).join(', ')}`,
              );
            },
          })}
        >
          <ErrorBoundary label="the grid">
            <Grid
              ref={grid}
              gridId={`grid-${dataset.id}`}
              label={`${dataset.name} — use the arrow keys to move, Enter to edit, Ctrl+Enter to validate`}
              columns={columns}
              cache={cache}
              initialTotal={filtered ? 0 : (dataset.rowCount ?? 0)}
              readOnly={readOnly}
              sort={view.sort}
              headerActions={headerActions}
              onEdit={async (row, column, value) => {
                try {
                  await onEdit(row, column, value);
                } catch (error) {
                  throw new Error(describeError(error));
                }
              }}
              onValidate={onValidate}
              onExpand={(row, column) => setDetail({ row, column })}
              onGenerate={(row, column) =>
                void generationApi
                  .startRun(projectId, dataset.id, column.id, {
                    mode: 'cells',
                    rowIds: [row.rowId],
                    includeValidated: true,
                  })
                  .then(runs.upsert, notices.error)
              }
              onPaste={(start, values) => void writeBlock(start, values, 'paste')}
              onPasteFiles={(start, files) => {
                const column = columns[start.col];
                if (!column || !files[0]) return;
                uploadImageToCell({
                  projectId,
                  datasetId: dataset.id,
                  column,
                  index: start.row,
                  file: files[0],
                  rowsBetween: (first, last) => cache.rowsBetween(first, last),
                }).catch(notices.error);
              }}
              onClear={onClear}
              onSelectionChange={setSelection}
              onCopied={(count) => announce(`${count.toLocaleString()} cells copied`)}
              onOpenRecord={setRecord}
              rowHeight={ROW_HEIGHTS[density]}
              wrap={density === 'wrapped'}
              search={view.search}
              filteredColumnIds={filteredColumnIds}
            />
          </ErrorBoundary>
          <SelectionFooter cache={cache} columns={columns} selection={selection} />
        </div>
        {sqlOpen && (
          <SqlPanel
            projectId={projectId}
            datasetId={dataset.id}
            onClose={() => setSqlOpen(false)}
          />
        )}
        {aiPanel && (
          <AiColumnPanel
            key={aiPanel.columnId ?? 'new'}
            projectId={projectId}
            datasetId={dataset.id}
            columns={allColumns}
            columnId={aiPanel.columnId}
            onClose={() => setAiPanel(undefined)}
            onColumnCreated={(columnId) => {
              setAiPanel({ columnId });
              setRevealColumnId(columnId);
            }}
            onRunStarted={runs.upsert}
          />
        )}
      </div>

      <ColumnsPanel
        open={columnsPanel}
        columns={allColumns.map((column) => ({ ...column, hidden: isHidden(column) }))}
        readOnly={readOnly && !viewHidden}
        onClose={() => setColumnsPanel(false)}
        onSetHidden={setHidden}
      />
      <RecordView
        index={record}
        total={knownTotal ?? 0}
        cache={cache}
        columns={allColumns}
        onMove={setRecord}
        onClose={() => setRecord(undefined)}
      />
      <FilterDialog
        column={filterColumn}
        onClose={() => setFilterColumn(undefined)}
        onAdd={(filter: Filter) =>
          setView((previous) => ({
            ...previous,
            filters: [...previous.filters, filter].slice(-20),
          }))
        }
      />
      <ColumnDialog
        open={columnDialog !== undefined}
        projectId={projectId}
        datasetId={dataset.id}
        {...(columnDialog?.editing ? { editing: columnDialog.editing } : {})}
        onClose={() => setColumnDialog(undefined)}
        onSaved={() => {
          void refreshDataset();
          cache.invalidate();
        }}
      />
      <FormulaDialog
        open={formulaDialog !== undefined}
        projectId={projectId}
        datasetId={dataset.id}
        columns={allColumns}
        {...(formulaDialog?.editing ? { editing: formulaDialog.editing } : {})}
        onClose={() => setFormulaDialog(undefined)}
        onSaved={() => {
          void refreshDataset();
          cache.invalidate();
        }}
      />
      <GenerateRowsDialog
        open={generateRows}
        projectId={projectId}
        datasetId={dataset.id}
        columns={allColumns}
        onClose={() => setGenerateRows(false)}
        onStarted={runs.upsert}
      />
      <CellDetailDialog
        target={detail}
        onClose={() => setDetail(undefined)}
        ai={{
          projectId,
          datasetId: dataset.id,
          readOnly,
          onRegenerate: (row, column) => {
            setDetail(undefined);
            void generationApi
              .startRun(projectId, dataset.id, column.id, {
                mode: 'cells',
                rowIds: [row.rowId],
                includeValidated: true,
              })
              .then(runs.upsert, notices.error);
          },
        }}
      />
      <ConflictDialog
        conflict={conflict}
        onClose={() => setConflict(undefined)}
        onKeepTheirs={() => setConflict(undefined)}
        onUseMine={() => {
          const pending = conflict;
          setConflict(undefined);
          if (!pending) return;
          void saveCell(cache, target(pending.row, pending.column.id), {
            value: pending.mine,
            expectedVersion: pending.theirs.version,
          })
            .then((outcome) => {
              if (outcome.status === 'conflict')
                setConflict({ ...pending, theirs: outcome.theirs });
              else announce('Your value was saved');
            })
            .catch(notices.error);
        }}
      />
    </div>
  );
}
