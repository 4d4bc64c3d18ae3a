import { memo, type PointerEvent as ReactPointerEvent, useRef } from 'react';
import type { Sort } from '../api/sheet-api.ts';
import { Menu } from '../ui/menu.tsx';
import { KIND_ICONS, TYPE_ICONS } from './column-icons.ts';
import { type GridColumn, GUTTER_WIDTH, HEADER_HEIGHT } from './grid-types.ts';
import { MAX_WIDTH, MIN_WIDTH } from './view-prefs.ts';

export type ColumnAction =
  | 'sort-asc'
  | 'sort-desc'
  | 'sort-clear'
  | 'filter'
  | 'hide'
  | 'move-left'
  | 'move-right'
  | 'toggle-markdown'
  | 'toggle-images'
  | 'toggle-html'
  | 'rename'
  | 'edit-formula'
  | 'delete'
  | 'edit-ai'
  | 'regenerate-all'
  | 'regenerate-errors'
  | 'regenerate-stale'
  | 'regenerate-empty'
  | 'regenerate-selection';

export interface HeaderActions {
  onSort(columnId: string, additive: boolean): void;
  onAction(action: ColumnAction, column: GridColumn): void;
  onResize(columnId: string, width: number): void;
  onReorder(columnId: string, toIndex: number): void;
}

interface GridHeaderProps {
  columns: readonly GridColumn[];
  lefts: readonly number[];
  colFirst: number;
  colLast: number;
  totalWidth: number;
  sort: readonly Sort[];
  readOnly: boolean;
  actions: HeaderActions;
  /** Columns with a filter on them (their headers show a funnel). */
  filteredColumnIds?: ReadonlySet<string> | undefined;
}

/** Column headers: type and kind icons, sort on click, a menu, drag to reorder, drag or arrow keys to resize. */
export const GridHeader = memo(function GridHeader({
  columns,
  lefts,
  colFirst,
  colLast,
  totalWidth,
  sort,
  readOnly,
  actions,
  filteredColumnIds,
}: GridHeaderProps) {
  const cells = [];
  for (let col = colFirst; col <= colLast; col++) {
    const column = columns[col];
    if (!column) continue;
    const sortIndex = sort.findIndex((item) => item.columnId === column.id);
    cells.push(
      <HeaderCell
        key={column.id}
        column={column}
        index={col}
        left={GUTTER_WIDTH + lefts[col]!}
        sortDirection={sortIndex >= 0 ? sort[sortIndex]!.direction : undefined}
        sortOrder={sort.length > 1 && sortIndex >= 0 ? sortIndex + 1 : undefined}
        readOnly={readOnly}
        actions={actions}
        filtered={filteredColumnIds?.has(column.id) ?? false}
      />,
    );
  }
  return (
    <div
      role="row"
      aria-rowindex={1}
      className="grid-header"
      style={{ width: GUTTER_WIDTH + totalWidth, height: HEADER_HEIGHT }}
    >
      <div role="columnheader" className="grid-corner" aria-label="Row number">
        #
      </div>
      {cells}
    </div>
  );
});

interface HeaderCellProps {
  column: GridColumn;
  index: number;
  left: number;
  sortDirection: 'asc' | 'desc' | undefined;
  sortOrder: number | undefined;
  readOnly: boolean;
  actions: HeaderActions;
  filtered: boolean;
}

function HeaderCell({
  column,
  index,
  left,
  sortDirection,
  sortOrder,
  readOnly,
  actions,
  filtered,
}: HeaderCellProps) {
  const type = TYPE_ICONS[column.type];
  const kind = KIND_ICONS[column.kind];
  const drag = useRef<{ x: number; width: number } | undefined>(undefined);

  const startResize = (event: ReactPointerEvent<HTMLDivElement>) => {
    event.preventDefault();
    event.stopPropagation();
    event.currentTarget.setPointerCapture(event.pointerId);
    drag.current = { x: event.clientX, width: column.width };
  };
  const moveResize = (event: ReactPointerEvent<HTMLDivElement>) => {
    if (!drag.current) return;
    const width = Math.min(
      MAX_WIDTH,
      Math.max(MIN_WIDTH, drag.current.width + event.clientX - drag.current.x),
    );
    actions.onResize(column.id, Math.round(width));
  };

  const ariaSort =
    sortDirection === 'asc' ? 'ascending' : sortDirection === 'desc' ? 'descending' : undefined;
  return (
    <div
      role="columnheader"
      aria-colindex={index + 2}
      aria-sort={ariaSort}
      className="grid-header-cell"
      style={{ left, width: column.width }}
      draggable={!readOnly}
      onDragStart={(event) => {
        event.dataTransfer.setData('application/x-braincells-column', column.id);
        event.dataTransfer.effectAllowed = 'move';
      }}
      onDragOver={(event) => {
        if (event.dataTransfer.types.includes('application/x-braincells-column'))
          event.preventDefault();
      }}
      onDrop={(event) => {
        const dragged = event.dataTransfer.getData('application/x-braincells-column');
        if (dragged && dragged !== column.id) {
          event.preventDefault();
          actions.onReorder(dragged, index);
        }
      }}
    >
      <button
        type="button"
        className="header-sort"
        title={`${column.name} — ${type.label}${kind ? `, ${kind.label}` : ''}. Click to sort, Shift+click to add to the sort.`}
        onClick={(event) => actions.onSort(column.id, event.shiftKey)}
      >
        <span className="type-icon" role="img" aria-label={type.label}>
          {type.icon}
        </span>
        {kind && (
          <span className={`kind-icon kind-${column.kind}`} role="img" aria-label={kind.label}>
            {kind.icon}
          </span>
        )}
        <span className="header-name">{column.name}</span>
        {filtered && (
          <span className="filter-indicator" role="img" aria-label="Filtered" title="Filtered">
            ⏷
          </span>
        )}
        {sortDirection && (
          <span className="sort-indicator" aria-hidden="true">
            {sortDirection === 'asc' ? '▲' : '▼'}
            {sortOrder}
          </span>
        )}
      </button>
      <Menu
        label="⋮"
        ariaLabel={`Column ${column.name} menu`}
        className="header-menu-button icon-button"
      >
        <button type="button" role="menuitem" onClick={() => actions.onAction('sort-asc', column)}>
          Sort ascending
        </button>
        <button type="button" role="menuitem" onClick={() => actions.onAction('sort-desc', column)}>
          Sort descending
        </button>
        {sortDirection && (
          <button
            type="button"
            role="menuitem"
            onClick={() => actions.onAction('sort-clear', column)}
          >
            Clear sort
          </button>
        )}
        <button type="button" role="menuitem" onClick={() => actions.onAction('filter', column)}>
          Filter…
        </button>
        <hr />
        {column.type === 'text' &&
          (
            [
              ['toggle-markdown', column.markdown, 'Show as plain text', 'Show as markdown'],
              [
                'toggle-images',
                column.images,
                'Show image URLs as text',
                'Show image URLs as thumbnails',
              ],
              ['toggle-html', column.html, 'Show HTML as text', 'Show as HTML preview'],
            ] as const
          ).map(([action, on, turnOff, turnOn]) => (
            <button
              key={action}
              type="button"
              role="menuitem"
              onClick={() => actions.onAction(action, column)}
            >
              {on ? turnOff : turnOn}
            </button>
          ))}
        <button type="button" role="menuitem" onClick={() => actions.onAction('move-left', column)}>
          Move left
        </button>
        <button
          type="button"
          role="menuitem"
          onClick={() => actions.onAction('move-right', column)}
        >
          Move right
        </button>
        {!readOnly && (
          <>
            <button type="button" role="menuitem" onClick={() => actions.onAction('hide', column)}>
              Hide column
            </button>
            <button
              type="button"
              role="menuitem"
              onClick={() => actions.onAction('rename', column)}
            >
              Rename or change type…
            </button>
            {column.kind === 'ai' && (
              <>
                <button
                  type="button"
                  role="menuitem"
                  onClick={() => actions.onAction('edit-ai', column)}
                >
                  Edit AI column…
                </button>
                <button
                  type="button"
                  role="menuitem"
                  onClick={() => actions.onAction('regenerate-selection', column)}
                >
                  Regenerate selected cells
                </button>
                <button
                  type="button"
                  role="menuitem"
                  onClick={() => actions.onAction('regenerate-errors', column)}
                >
                  Regenerate errors
                </button>
                <button
                  type="button"
                  role="menuitem"
                  onClick={() => actions.onAction('regenerate-stale', column)}
                >
                  Regenerate stale cells
                </button>
                <button
                  type="button"
                  role="menuitem"
                  onClick={() => actions.onAction('regenerate-empty', column)}
                >
                  Fill empty cells
                </button>
                <button
                  type="button"
                  role="menuitem"
                  onClick={() => actions.onAction('regenerate-all', column)}
                >
                  Regenerate all…
                </button>
              </>
            )}
            {column.kind === 'formula' && (
              <button
                type="button"
                role="menuitem"
                onClick={() => actions.onAction('edit-formula', column)}
              >
                Edit formula…
              </button>
            )}
            <hr />
            <button
              type="button"
              role="menuitem"
              className="danger"
              onClick={() => actions.onAction('delete', column)}
            >
              Delete column…
            </button>
          </>
        )}
      </Menu>
      <div
        role="separator"
        aria-orientation="vertical"
        aria-label={`Resize column ${column.name}`}
        aria-valuenow={column.width}
        aria-valuemin={MIN_WIDTH}
        aria-valuemax={MAX_WIDTH}
        tabIndex={0}
        className="resize-handle"
        onPointerDown={startResize}
        onPointerMove={moveResize}
        onPointerUp={() => {
          drag.current = undefined;
        }}
        onKeyDown={(event) => {
          const step = event.shiftKey ? 50 : 10;
          if (event.key === 'ArrowLeft')
            actions.onResize(column.id, Math.max(MIN_WIDTH, column.width - step));
          else if (event.key === 'ArrowRight')
            actions.onResize(column.id, Math.min(MAX_WIDTH, column.width + step));
          else return;
          event.preventDefault();
        }}
      />
    </div>
  );
}
