import { download, type Flat, toCsv } from './monitor-export.ts';

/** CSV (flat columns, formula-escaped) and JSON (the rows as the API sent them) of a table. */
export function ExportButtons({
  name,
  rows,
  flat,
}: {
  name: string;
  rows: readonly unknown[];
  flat: () => Flat[];
}) {
  return (
    <span className="row">
      <button type="button" onClick={() => download(`${name}.csv`, toCsv(flat()), 'text/csv')}>
        CSV
      </button>
      <button
        type="button"
        onClick={() =>
          download(`${name}.json`, `${JSON.stringify(rows, null, 2)}\n`, 'application/json')
        }
      >
        JSON
      </button>
    </span>
  );
}
