import type { ReactNode } from 'react';

/**
 * The Monitor page's tables: one markup for every report (models, breakdowns, tools, own
 * calls, sessions), so headers, number alignment and sort buttons stay alike.
 */
export interface MonitorColumn<Row> {
  label: string;
  numeric?: boolean;
  cell: (row: Row) => ReactNode;
  /** A tooltip for the cell (e.g. how many events are of unknown price). */
  title?: (row: Row) => string | undefined;
  /** A sortable column: its header is a button; `active` marks the current sort. */
  sort?: { active: boolean; onSort: () => void };
}

export function MonitorTable<Row>({
  testId,
  columns,
  rows,
  rowKey,
}: {
  testId: string;
  columns: MonitorColumn<Row>[];
  rows: readonly Row[];
  rowKey: (row: Row) => string;
}) {
  return (
    // A phone scrolls a wide report inside its box, never the page.
    <div className="table-scroll">
      <table className="data-table" data-testid={testId}>
        <thead>
          <tr>
            {columns.map((column) => (
              <th
                key={column.label}
                scope="col"
                className={column.numeric ? 'number' : undefined}
                aria-sort={column.sort ? (column.sort.active ? 'descending' : 'none') : undefined}
              >
                {column.sort ? (
                  <button type="button" className="link-button" onClick={column.sort.onSort}>
                    {column.label}
                  </button>
                ) : (
                  column.label
                )}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.map((row) => (
            <tr key={rowKey(row)}>
              {columns.map((column) => (
                <td
                  key={column.label}
                  className={column.numeric ? 'number' : undefined}
                  title={column.title?.(row)}
                >
                  {column.cell(row)}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
