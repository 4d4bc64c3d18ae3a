import {
  type ClipboardEvent,
  type CSSProperties,
  type KeyboardEvent,
  type PointerEvent,
  type Ref,
  useCallback,
  useContext,
  useEffect,
  useImperativeHandle,
  useLayoutEffect,
  useMemo,
  useRef,
  useState,
  useSyncExternalStore,
} from 'react';
import { flushSync } from 'react-dom';
import type { CellValue, Row, Sort } from '../api/sheet-api.ts';
import { ThumbUpIcon } from '../ui/icons.tsx';
import { CellEditor } from './cell-editor.tsx';
import { parseTsv, toTsv, valueToText } from './clipboard-text.ts';
import {
  columnOffsets,
  offsetToReveal,
  rowOffset,
  scrollTopFor,
  verticalMetrics,
  visibleColumns,
  visibleRows,
} from './grid-geometry.ts';
import { GridGutter } from './grid-gutter.tsx';
import { GridHeader, type HeaderActions } from './grid-header.tsx';
import { GridRow } from './grid-row.tsx';
import {
  type CellPosition,
  cellDomId,
  type GridColumn,
  GUTTER_WIDTH,
  HEADER_HEIGHT,
  ROW_HEIGHT,
  type Selection,
  selectionBounds,
} from './grid-types.ts';
import type { RowCache } from './row-cache.ts';
import { hashesAhead, ThumbnailPrefetchContext } from './thumbnail-prefetch.ts';

/** Rows rendered beyond the viewport on each side (keeps fast wheel scrolling filled). */
const OVERSCAN = 8;
/** Rows whose thumbnails are fetched ahead of the rendered ones: at least this many… */
const PREFETCH_ROWS = 60;
/** …and at least this many screens. */
const PREFETCH_SCREENS = 3;
/** Rows share a transform anchor, so scrolling moves one layer instead of restyling every row. */
const ANCHOR_ROWS = 256;
/** Copying more than this asks the server for the missing rows first. */
const MAX_COPY_CELLS = 200_000;
/** Width of one button beside the active cell's value (grid.css .cell-actions .icon-button). */
const ACTION_WIDTH = 26;

export interface GridHandle {
  focus(): void;
  scrollToRow(index: number): void;
  /** Moves the active cell to this column (same row) and scrolls it into view. */
  revealColumn(index: number): void;
  selection(): Selection;
}

export interface GridProps {
  gridId: string;
  label: string;
  columns: readonly GridColumn[];
  cache: RowCache;
  /** Row count known before the first window (from the dataset). */
  initialTotal: number;
  readOnly: boolean;
  sort: readonly Sort[];
  headerActions: HeaderActions;
  onEdit(row: Row, column: GridColumn, value: CellValue): Promise<void>;
  onValidate(row: Row, column: GridColumn): void;
  onExpand(row: Row, column: GridColumn): void;
  /** Generate this AI cell now (shown for cells not generated, with errors, or stale). */
  onGenerate?(row: Row, column: GridColumn): void;
  onPaste(start: CellPosition, values: string[][]): void;
  /** Image files pasted from the clipboard (a screenshot, a copied picture). */
  onPasteFiles?(start: CellPosition, files: File[]): void;
  onClear(selection: Selection): void;
  onSelectionChange?(selection: Selection): void;
  onCopied?(cells: number): void;
  /** Row height in pixels (compact, comfortable or wrapped); every row has the same height. */
  rowHeight?: number;
  /** Wrap long values onto several lines inside the (taller) row. */
  wrap?: boolean;
  /** The toolbar's search text: its matches are highlighted in the cells. */
  search?: string;
  /** Columns with a filter: their headers show a filter icon. */
  filteredColumnIds?: ReadonlySet<string>;
  /** Open this row (position) as a form: double-click on its row number. */
  onOpenRecord?(row: number): void;
  ref?: Ref<GridHandle>;
}

interface Range {
  first: number;
  last: number;
  colFirst: number;
  colLast: number;
  anchor: number;
}

const sameRange = (a: Range, b: Range) =>
  a.first === b.first &&
  a.last === b.last &&
  a.colFirst === b.colFirst &&
  a.colLast === b.colLast &&
  a.anchor === b.anchor;

/**
 * The virtualized grid: only the rows and columns on screen exist in the DOM. Vertical
 * position is computed (tall datasets scroll a capped spacer, see grid-geometry.ts), rows are
 * read from the RowCache, and the whole grid re-renders at most once per animation frame
 * however many cells stream in.
 */
export function Grid(props: GridProps) {
  const { gridId, label, columns, cache, initialTotal, readOnly, sort, headerActions, ref } = props;
  const rowHeight = props.rowHeight ?? ROW_HEIGHT;
  const search = props.search ?? '';
  const version = useSyncExternalStore(cache.subscribe, cache.getVersion);
  const total = cache.total ?? initialTotal;

  const scroller = useRef<HTMLDivElement>(null);
  const inner = useRef<HTMLDivElement>(null);
  const gutterInner = useRef<HTMLDivElement>(null);
  const [viewport, setViewport] = useState({ width: 800, height: 600 });
  const bodyHeight = Math.max(rowHeight, viewport.height - HEADER_HEIGHT);
  const metrics = useMemo(
    () => verticalMetrics(total, rowHeight, bodyHeight),
    [total, rowHeight, bodyHeight],
  );
  const widths = useMemo(() => columns.map((column) => column.width), [columns]);
  const { lefts, total: totalWidth } = useMemo(() => columnOffsets(widths), [widths]);

  const [selection, setSelection] = useState<Selection>({
    anchor: { row: 0, col: 0 },
    focus: { row: 0, col: 0 },
  });
  const [editing, setEditing] = useState<{ row: number; col: number; text: string } | undefined>();
  // The selection as of now, for code that resumes after an await (a save's move must not undo
  // a click the user made while the save was on its way).
  const selectionNow = useRef(selection);
  selectionNow.current = selection;
  const selecting = useRef(false);

  const computeRange = useCallback((): Range => {
    const element = scroller.current;
    const scrollTop = element?.scrollTop ?? 0;
    const scrollLeft = element?.scrollLeft ?? 0;
    const offset = rowOffset(scrollTop, metrics);
    const rows = visibleRows(offset, bodyHeight, rowHeight, total);
    const cols = visibleColumns(
      lefts,
      widths,
      Math.max(0, scrollLeft - GUTTER_WIDTH),
      viewport.width - GUTTER_WIDTH,
    );
    return {
      first: rows.first,
      last: rows.last,
      colFirst: cols.first,
      colLast: cols.last,
      anchor: Math.floor(rows.first / ANCHOR_ROWS) * ANCHOR_ROWS,
    };
  }, [metrics, bodyHeight, rowHeight, total, lefts, widths, viewport.width]);

  const [range, setRange] = useState<Range>(() => ({
    first: 0,
    last: 30,
    colFirst: 0,
    colLast: 8,
    anchor: 0,
  }));
  const rangeRef = useRef(range);

  const applyTransform = useCallback(() => {
    const element = scroller.current;
    if (!element || !inner.current) return;
    const offset = rowOffset(element.scrollTop, metrics);
    const transform = `translate3d(0, ${rangeRef.current.anchor * rowHeight - offset}px, 0)`;
    inner.current.style.transform = transform;
    if (gutterInner.current) gutterInner.current.style.transform = transform;
  }, [metrics, rowHeight]);

  // Scroll: move the row layer in this frame; re-render only when the visible set changes.
  useEffect(() => {
    const element = scroller.current;
    if (!element) return;
    const onScroll = () => {
      const next = computeRange();
      if (!sameRange(next, rangeRef.current)) {
        rangeRef.current = next;
        flushSync(() => setRange(next));
      }
      applyTransform();
    };
    element.addEventListener('scroll', onScroll, { passive: true });
    onScroll();
    return () => element.removeEventListener('scroll', onScroll);
  }, [computeRange, applyTransform]);

  // Geometry changed (row count, sizes, widths): recompute the visible range. Not on every
  // render: reading scrollTop after a live update would force a layout in each frame.
  useLayoutEffect(() => {
    const next = computeRange();
    if (!sameRange(next, rangeRef.current)) {
      rangeRef.current = next;
      setRange(next);
    }
    applyTransform();
  }, [computeRange, applyTransform]);

  // A new anchor moves every row: put the layer where the rows now expect it.
  // biome-ignore lint/correctness/useExhaustiveDependencies: runs when the anchor changes
  useLayoutEffect(() => {
    applyTransform();
  }, [range.anchor, applyTransform]);

  useLayoutEffect(() => {
    const element = scroller.current;
    if (!element) return;
    const observer = new ResizeObserver(() =>
      setViewport({ width: element.clientWidth, height: element.clientHeight }),
    );
    observer.observe(element);
    return () => observer.disconnect();
  }, []);

  // Ask the cache for what is on screen; after a long jump (scrollbar drag) wait for the
  // scroll to settle rather than fetching every page flown over.
  const lastEnsured = useRef(-1);
  useEffect(() => {
    const first = Math.max(0, range.first - OVERSCAN);
    const last = range.last + OVERSCAN;
    const jump = Math.abs(first - lastEnsured.current) > cache.pageSize * 3;
    const run = () => {
      lastEnsured.current = first;
      cache.ensure(first, last);
    };
    if (!jump || lastEnsured.current < 0) {
      run();
      return;
    }
    const timer = window.setTimeout(run, 40);
    return () => window.clearTimeout(timer);
  }, [cache, range.first, range.last]);

  // Thumbnails of the rows beyond the rendered ones, in the direction of the scroll, many
  // per request (thumbnail-prefetch.ts): a row that scrolls in shows its pictures at once.
  const thumbnails = useContext(ThumbnailPrefetchContext);
  const imageColumnIds = useMemo(
    () => columns.filter((column) => column.type === 'image').map((column) => column.id),
    [columns],
  );
  const scrolledFrom = useRef({ first: 0, direction: 1 as 1 | -1 });
  // biome-ignore lint/correctness/useExhaustiveDependencies: runs again when rows arrive (version)
  useEffect(() => {
    if (!thumbnails || imageColumnIds.length === 0) return;
    const scrolled = scrolledFrom.current;
    if (range.first !== scrolled.first) {
      scrolled.direction = range.first > scrolled.first ? 1 : -1;
      scrolled.first = range.first;
    }
    const rows = Math.max(PREFETCH_ROWS, (range.last - range.first + 1) * PREFETCH_SCREENS);
    const from = scrolled.direction === 1 ? range.last + OVERSCAN + 1 : range.first - OVERSCAN - 1;
    thumbnails.want(
      hashesAhead((index) => cache.rowAt(index), imageColumnIds, from, rows, scrolled.direction),
    );
  }, [thumbnails, imageColumnIds, cache, range.first, range.last, version]);

  const bounds = selectionBounds(selection);

  // Rows deleted (or a filter narrowed the view) under the selection: keep it inside.
  useEffect(() => {
    if (total > 0 && (selection.focus.row >= total || selection.anchor.row >= total)) {
      const row = total - 1;
      setSelection({
        anchor: { row: Math.min(selection.anchor.row, row), col: selection.anchor.col },
        focus: { row, col: selection.focus.col },
      });
    }
  }, [total, selection]);

  const setSelectionAndNotify = useCallback(
    (next: Selection) => {
      selectionNow.current = next;
      setSelection(next);
      props.onSelectionChange?.(next);
    },
    [props.onSelectionChange],
  );

  const reveal = useCallback(
    (position: CellPosition) => {
      const element = scroller.current;
      if (!element) return;
      const offset = rowOffset(element.scrollTop, metrics);
      const target = offsetToReveal(position.row, offset, bodyHeight, rowHeight);
      if (target !== undefined) element.scrollTop = Math.round(scrollTopFor(target, metrics));
      const left = lefts[position.col];
      const width = widths[position.col];
      if (left !== undefined && width !== undefined) {
        const visibleWidth = element.clientWidth - GUTTER_WIDTH;
        if (left < element.scrollLeft) element.scrollLeft = left;
        else if (left + width > element.scrollLeft + visibleWidth)
          element.scrollLeft = left + width - visibleWidth;
      }
    },
    [metrics, bodyHeight, rowHeight, lefts, widths],
  );

  const clamp = useCallback(
    (position: CellPosition): CellPosition => ({
      row: Math.max(0, Math.min(total - 1, position.row)),
      col: Math.max(0, Math.min(columns.length - 1, position.col)),
    }),
    [total, columns.length],
  );

  const moveTo = useCallback(
    (position: CellPosition, extend: boolean) => {
      const focus = clamp(position);
      setSelectionAndNotify(
        extend ? { anchor: selection.anchor, focus } : { anchor: focus, focus },
      );
      reveal(focus);
    },
    [clamp, reveal, selection.anchor, setSelectionAndNotify],
  );

  useImperativeHandle(
    ref,
    () => ({
      focus: () => scroller.current?.focus(),
      scrollToRow: (index: number) => moveTo({ row: index, col: selection.focus.col }, false),
      revealColumn: (index: number) => moveTo({ row: selection.focus.row, col: index }, false),
      selection: () => selection,
    }),
    [moveTo, selection],
  );

  const startEditing = (position: CellPosition, text?: string) => {
    const column = columns[position.col];
    const row = cache.rowAt(position.row);
    if (readOnly || !column || !row || column.kind === 'formula') return;
    reveal(position);
    setEditing({ ...position, text: text ?? valueToText(row.cells[column.id]?.value) });
  };

  const onKeyDown = (event: KeyboardEvent<HTMLDivElement>) => {
    // Keys typed in the editor stay there. Once the user has left an editor whose save is still
    // on its way (a click on another cell), the grid has the focus and its keys work again.
    if (event.target !== event.currentTarget) return;
    const { focus } = selection;
    const pageRows = Math.max(1, Math.floor(bodyHeight / rowHeight) - 1);
    const ctrl = event.ctrlKey || event.metaKey;
    const extend = event.shiftKey;
    const column = columns[focus.col];
    const row = cache.rowAt(focus.row);
    switch (event.key) {
      case 'ArrowDown':
        moveTo({ row: ctrl ? total - 1 : focus.row + 1, col: focus.col }, extend);
        break;
      case 'ArrowUp':
        moveTo({ row: ctrl ? 0 : focus.row - 1, col: focus.col }, extend);
        break;
      case 'ArrowRight':
        moveTo({ row: focus.row, col: ctrl ? columns.length - 1 : focus.col + 1 }, extend);
        break;
      case 'ArrowLeft':
        moveTo({ row: focus.row, col: ctrl ? 0 : focus.col - 1 }, extend);
        break;
      case 'PageDown':
        moveTo({ row: focus.row + pageRows, col: focus.col }, extend);
        break;
      case 'PageUp':
        moveTo({ row: focus.row - pageRows, col: focus.col }, extend);
        break;
      case 'Home':
        moveTo(ctrl ? { row: 0, col: 0 } : { row: focus.row, col: 0 }, extend);
        break;
      case 'End':
        moveTo(
          ctrl
            ? { row: total - 1, col: columns.length - 1 }
            : { row: focus.row, col: columns.length - 1 },
          extend,
        );
        break;
      case 'Tab':
        if (focus.col === (event.shiftKey ? 0 : columns.length - 1)) return;
        moveTo({ row: focus.row, col: focus.col + (event.shiftKey ? -1 : 1) }, false);
        break;
      case 'Enter':
        if (ctrl && row && column) props.onValidate(row, column);
        else if (event.altKey && row && column) props.onExpand(row, column);
        else startEditing(focus);
        break;
      case 'F2':
        startEditing(focus);
        break;
      case 'Escape':
        setSelectionAndNotify({ anchor: focus, focus });
        break;
      case 'Delete':
      case 'Backspace':
        if (!readOnly) props.onClear(selection);
        break;
      case 'a':
        if (!ctrl) {
          startEditing(focus, event.key);
          break;
        }
        setSelectionAndNotify({
          anchor: { row: 0, col: 0 },
          focus: { row: total - 1, col: columns.length - 1 },
        });
        break;
      default:
        if (event.key.length === 1 && !ctrl && !event.altKey) {
          startEditing(focus, event.key);
          break;
        }
        return;
    }
    event.preventDefault();
  };

  const positionFrom = (target: EventTarget): CellPosition | 'gutter-row' | undefined => {
    const element = target as HTMLElement;
    const rowElement = element.closest<HTMLElement>('[data-row]');
    if (!rowElement) return undefined;
    const rowIndex = Number(rowElement.dataset.row);
    if (element.closest('[data-gutter]')) {
      return { row: rowIndex, col: -1 };
    }
    const cellElement = element.closest<HTMLElement>('[data-col]');
    if (!cellElement) return undefined;
    return { row: rowIndex, col: Number(cellElement.dataset.col) };
  };

  const onPointerDown = (event: PointerEvent<HTMLDivElement>) => {
    if (event.button !== 0) return;
    const target = event.target as HTMLElement;
    if (target.closest('button, a, .cell-editor')) return;
    const position = positionFrom(event.target);
    if (!position || position === 'gutter-row') return;
    scroller.current?.focus({ preventScroll: true });
    if (position.col === -1) {
      const rowAnchor = event.shiftKey ? selection.anchor.row : position.row;
      setSelectionAndNotify({
        anchor: { row: rowAnchor, col: 0 },
        focus: { row: position.row, col: columns.length - 1 },
      });
      return;
    }
    selecting.current = true;
    setSelectionAndNotify(
      event.shiftKey
        ? { anchor: selection.anchor, focus: position }
        : { anchor: position, focus: position },
    );
  };

  const onPointerMove = (event: PointerEvent<HTMLDivElement>) => {
    if (!selecting.current || !(event.buttons & 1)) return;
    const position = positionFrom(event.target);
    if (!position || position === 'gutter-row' || position.col < 0) return;
    if (position.row !== selection.focus.row || position.col !== selection.focus.col) {
      setSelectionAndNotify({ anchor: selection.anchor, focus: position });
    }
  };

  const onCopy = (event: ClipboardEvent<HTMLDivElement>) => {
    if (editing) return;
    const { top, bottom, left, right } = bounds;
    const cells = (bottom - top + 1) * (right - left + 1);
    if (cells > MAX_COPY_CELLS) return;
    const rows: string[][] = [];
    let missing = false;
    for (let index = top; index <= bottom; index++) {
      const row = cache.rowAt(index);
      if (!row) missing = true;
      const line: string[] = [];
      for (let col = left; col <= right; col++)
        line.push(valueToText(row?.cells[columns[col]!.id]?.value));
      rows.push(line);
    }
    event.preventDefault();
    if (!missing) {
      event.clipboardData.setData('text/plain', toTsv(rows));
      props.onCopied?.(cells);
      return;
    }
    // Part of the range is not loaded: fetch it, then write the clipboard asynchronously.
    void cache.rowsBetween(top, bottom).then(async (loaded) => {
      const text = toTsv(
        loaded.map((row) =>
          columns.slice(left, right + 1).map((column) => valueToText(row?.cells[column.id]?.value)),
        ),
      );
      await navigator.clipboard.writeText(text);
      props.onCopied?.(cells);
    });
  };

  const onPaste = (event: ClipboardEvent<HTMLDivElement>) => {
    if (editing || readOnly) return;
    const images = [...event.clipboardData.files].filter((file) => file.type.startsWith('image/'));
    if (images.length > 0 && props.onPasteFiles) {
      event.preventDefault();
      props.onPasteFiles({ row: bounds.top, col: bounds.left }, images);
      return;
    }
    const text = event.clipboardData.getData('text/plain');
    if (!text) return;
    event.preventDefault();
    props.onPaste({ row: bounds.top, col: bounds.left }, parseTsv(text));
  };

  const fullRows = bounds.left === 0 && bounds.right === columns.length - 1 && columns.length > 0;
  // Rows to render.
  const firstRow = Math.max(0, range.first - OVERSCAN);
  const lastRow = Math.min(total - 1, range.last + OVERSCAN);
  const activeRow = cache.rowAt(selection.focus.row);
  const activeColumn = columns[selection.focus.col];
  const activeCell = activeColumn ? activeRow?.cells[activeColumn.id] : undefined;
  const showValidate = !readOnly && activeColumn !== undefined && activeColumn.kind !== 'formula';
  const showGenerate =
    !readOnly &&
    props.onGenerate !== undefined &&
    activeColumn?.kind === 'ai' &&
    !activeColumn.generating &&
    (activeCell === undefined || ['pending', 'error', 'stale'].includes(activeCell.status));
  // The active cell keeps its value clear of its buttons: its text ends where they begin.
  const activeInset =
    activeRow && !editing
      ? (1 + (showValidate ? 1 : 0) + (showGenerate ? 1 : 0)) * ACTION_WIDTH + 4
      : 0;

  const rows = [];
  for (let index = firstRow; index <= lastRow; index++) {
    const inRange = index >= bounds.top && index <= bounds.bottom;
    rows.push(
      <GridRow
        key={index}
        gridId={gridId}
        index={index}
        slot={index - range.anchor}
        row={cache.rowAt(index)}
        columns={columns}
        lefts={lefts}
        colFirst={range.colFirst}
        colLast={range.colLast}
        totalWidth={totalWidth}
        selLeft={inRange ? bounds.left : 1}
        selRight={inRange ? bounds.right : 0}
        activeCol={index === selection.focus.row ? selection.focus.col : -1}
        activeInset={activeInset}
        rowHeight={rowHeight}
        search={search}
        rowSelected={
          inRange && bounds.left === 0 && bounds.right === columns.length - 1 && columns.length > 0
        }
      />,
    );
  }

  const focusRendered =
    selection.focus.row >= firstRow &&
    selection.focus.row <= lastRow &&
    selection.focus.col >= range.colFirst &&
    selection.focus.col <= range.colLast;
  const layerHeight = Math.max(0, Math.min(bodyHeight, metrics.spacerHeight));
  void version;

  return (
    // biome-ignore lint/a11y/useSemanticElements: an ARIA grid (a <table> cannot be virtualized this way)
    <div
      ref={scroller}
      role="grid"
      aria-label={label}
      aria-rowcount={total + 1}
      aria-colcount={columns.length + 1}
      aria-multiselectable="true"
      aria-readonly={readOnly || undefined}
      aria-activedescendant={
        focusRendered && !editing
          ? cellDomId(gridId, selection.focus.row, selection.focus.col)
          : undefined
      }
      tabIndex={0}
      className={props.wrap ? 'grid-scroll grid-wrap' : 'grid-scroll'}
      style={{ '--row-height': `${rowHeight}px` } as CSSProperties}
      data-testid="grid"
      onKeyDown={onKeyDown}
      onPointerDown={onPointerDown}
      onPointerMove={onPointerMove}
      onPointerUp={() => {
        selecting.current = false;
      }}
      onDoubleClick={(event) => {
        const position = positionFrom(event.target);
        if (!position || position === 'gutter-row') return;
        if (position.col >= 0) startEditing(position);
        else props.onOpenRecord?.(position.row);
      }}
      onCopy={onCopy}
      onPaste={onPaste}
    >
      <div
        className="grid-content"
        style={{ width: GUTTER_WIDTH + totalWidth, height: HEADER_HEIGHT + metrics.spacerHeight }}
      >
        <GridHeader
          columns={columns}
          lefts={lefts}
          colFirst={range.colFirst}
          colLast={range.colLast}
          totalWidth={totalWidth}
          sort={sort}
          readOnly={readOnly}
          actions={headerActions}
          filteredColumnIds={props.filteredColumnIds}
        />
        <div
          className="grid-layer"
          style={{ height: layerHeight, width: GUTTER_WIDTH + totalWidth }}
        >
          <GridGutter
            first={firstRow}
            last={lastRow}
            anchor={range.anchor}
            selectedTop={fullRows ? bounds.top : 1}
            selectedBottom={fullRows ? bounds.bottom : 0}
            innerRef={gutterInner}
            rowHeight={rowHeight}
          />
          <div ref={inner} className="grid-inner">
            {rows}
            {activeRow && activeColumn && focusRendered && !editing && (
              <div
                className="cell-actions"
                style={{
                  // Right-aligned in the cell, however many buttons it holds.
                  transform: `translate(-100%, ${(selection.focus.row - range.anchor) * rowHeight}px)`,
                  left: GUTTER_WIDTH + lefts[selection.focus.col]! + activeColumn.width - 4,
                }}
              >
                {showValidate && (
                  <button
                    type="button"
                    tabIndex={-1}
                    className={
                      activeCell?.validated
                        ? 'icon-button validate-button on'
                        : 'icon-button validate-button'
                    }
                    aria-label={
                      activeCell?.validated ? 'Validated' : 'Validate this cell (Ctrl+Enter)'
                    }
                    title="Validate (Ctrl+Enter)"
                    aria-pressed={activeCell?.validated ?? false}
                    onClick={() => props.onValidate(activeRow, activeColumn)}
                  >
                    <ThumbUpIcon filled={activeCell?.validated ?? false} />
                  </button>
                )}
                {showGenerate && (
                  <button
                    type="button"
                    tabIndex={-1}
                    className="icon-button"
                    aria-label="Generate this cell"
                    title="Generate this cell"
                    onClick={() => props.onGenerate?.(activeRow, activeColumn)}
                  >
                    ▶
                  </button>
                )}
                <button
                  type="button"
                  tabIndex={-1}
                  className="icon-button"
                  aria-label="Open cell details (Alt+Enter)"
                  title="Details (Alt+Enter)"
                  onClick={() => props.onExpand(activeRow, activeColumn)}
                >
                  ⤢
                </button>
              </div>
            )}
            {editing && columns[editing.col] && (
              <CellEditor
                key={`${editing.row}:${editing.col}`}
                initialText={editing.text}
                type={columns[editing.col]!.type}
                left={GUTTER_WIDTH + lefts[editing.col]!}
                top={(editing.row - range.anchor) * rowHeight}
                width={columns[editing.col]!.width}
                onCancel={() => {
                  setEditing(undefined);
                  scroller.current?.focus();
                }}
                onCommit={async (value, move) => {
                  const row = cache.rowAt(editing.row);
                  const column = columns[editing.col]!;
                  if (!row) throw new Error('This row is no longer loaded');
                  await props.onEdit(row, column, value);
                  // Another edit may have begun meanwhile; close only this one.
                  setEditing((current) => (current === editing ? undefined : current));
                  // Enter/Tab move on from the edited cell, unless the user has already gone
                  // elsewhere while the save was on its way.
                  const { anchor, focus } = selectionNow.current;
                  const stillThere =
                    anchor.row === editing.row &&
                    anchor.col === editing.col &&
                    focus.row === editing.row &&
                    focus.col === editing.col;
                  if (!stillThere) return;
                  scroller.current?.focus();
                  if (move === 'down') moveTo({ row: editing.row + 1, col: editing.col }, false);
                  if (move === 'right') moveTo({ row: editing.row, col: editing.col + 1 }, false);
                }}
              />
            )}
          </div>
        </div>
      </div>
      {total === 0 && (
        <p className="grid-empty">No rows{cache.total === undefined ? ' yet' : ''}.</p>
      )}
    </div>
  );
}
