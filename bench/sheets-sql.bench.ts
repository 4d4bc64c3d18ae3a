// The price of the SQL sandbox (issue #12) on a 1M-row dataset: a read-only query through the
// service (check, Parquet snapshot of the columns it names, a sandbox process) against the same
// query run directly on the main DuckDB instance — which is what the sandbox replaced, and must
// never do again; a cell edit that recomputes a dependent formula in the sandbox against an
// edit with no formula; and a formula column created over every row against DuckDB computing
// the same expression in one UPDATE. No goal is set by the issue: the figures say what
// isolation costs, so a change that makes it worse shows.
import { datasetTable, valueColumn } from '../src/sheets/sheet-query.ts';
import { type BenchRow, percentile, round } from './bench-types.ts';
import { createPeopleDataset, openSheetsBench, timeEach } from './sheets-bench-helpers.ts';

const ROWS = Number(process.env.BENCH_SHEETS_ROWS ?? 1_000_000);
const SAMPLES = 20;

export default async function sheetsSqlBench(): Promise<BenchRow[]> {
  const bench = await openSheetsBench();
  const { sheets } = bench.module;
  const { duckdb } = bench.platform;
  try {
    const { dataset, name, city, amount } = await createPeopleDataset(bench, 'SQL bench', ROWS);
    const table = datasetTable(dataset.id);
    const rows: BenchRow[] = [];
    const compare = (label: string, ours: number[], peer: number[], peerLabel: string) => {
      const [a, b] = [percentile(ours, 50), percentile(peer, 50)];
      rows.push({
        name: `${label} p50`,
        value: round(a, 1),
        unit: 'ms',
        against: { label: `${peerLabel} ms`, value: round(b, 1) },
        ratio: round(a / b),
      });
    };

    const userSql =
      'select "City", count(*) as n, avg("Amount") as mean from dataset group by all order by 1';
    const direct = `select ${valueColumn(city.id)} as "City", count(*) as n, avg(${valueColumn(amount.id)}) as mean from ${table} group by all order by 1`;
    await sheets.runSql(bench.actor, bench.projectId, dataset.id, userSql);
    compare(
      'sql group-by over 2 of 3 columns (sandbox)',
      await timeEach(SAMPLES, () =>
        sheets.runSql(bench.actor, bench.projectId, dataset.id, userSql),
      ),
      await timeEach(SAMPLES, () => duckdb.query(direct)),
      'main instance',
    );
    compare(
      'sql count(*) (sandbox)',
      await timeEach(SAMPLES, () =>
        sheets.runSql(
          bench.actor,
          bench.projectId,
          dataset.id,
          'select count(*) as n from dataset',
        ),
      ),
      await timeEach(SAMPLES, () => duckdb.query(`select count(*) as n from ${table}`)),
      'main instance',
    );

    // A formula over every row: created (computed in the sandbox, written back) vs one UPDATE.
    const create = await timeEach(3, (index) =>
      sheets.addColumn(bench.actor, bench.projectId, dataset.id, {
        name: `Upper ${index}`,
        formula: "upper({{Name}}) || ' in ' || {{City}}",
      }),
    );
    await sheets.addColumn(bench.actor, bench.projectId, dataset.id, {
      name: 'Plain',
      type: 'text',
    });
    const after = await sheets.getDataset(bench.actor, bench.projectId, dataset.id);
    const plain = after.columns.find((column) => column.name === 'Plain')!;
    const update = await timeEach(3, () =>
      duckdb.run(
        `update ${table} set ${valueColumn(plain.id)} = upper(${valueColumn(name.id)}) || ' in ' || ${valueColumn(city.id)}`,
      ),
    );
    compare('formula column over 1M rows (sandbox)', create, update, 'DuckDB UPDATE');

    // A cell edit whose column three formulas read, vs an edit of a column no formula reads.
    let version = 0;
    const editName = await timeEach(SAMPLES, async (index) => {
      const cell = await sheets.editCell(bench.actor, bench.projectId, dataset.id, {
        rowId: 1n,
        columnId: name.id,
        expectedVersion: version,
        value: `Edited ${index}`,
      });
      version = cell.version;
    });
    let plainVersion = 0;
    const editPlain = await timeEach(SAMPLES, async (index) => {
      const cell = await sheets.editCell(bench.actor, bench.projectId, dataset.id, {
        rowId: 1n,
        columnId: plain.id,
        expectedVersion: plainVersion,
        value: `Plain ${index}`,
      });
      plainVersion = cell.version;
    });
    compare('cell edit + 3 formulas recomputed (sandbox)', editName, editPlain, 'edit, no formula');
    return rows;
  } finally {
    await bench.close();
  }
}
