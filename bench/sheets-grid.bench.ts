// Sheets grid on a 1M-row dataset: 100-row windows at random offsets (unsorted, sorted,
// sorted + filtered) through the service (access check, metadata, DuckDB), one-statement delete
// of 10,000 scattered rows, and a Parquet export against DuckDB's own COPY of the same table.
import { rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { exportToFile } from '../src/sheets/export/sheet-export.ts';
import { datasetTable } from '../src/sheets/sheet-query.ts';
import { type BenchRow, percentile, round } from './bench-types.ts';
import { createPeopleDataset, openSheetsBench, timeEach } from './sheets-bench-helpers.ts';

const ROWS = Number(process.env.BENCH_SHEETS_ROWS ?? 1_000_000);
const SAMPLES = 200;

export default async function sheetsGridBench(): Promise<BenchRow[]> {
  const bench = await openSheetsBench();
  const { sheets } = bench.module;
  try {
    const { dataset, name, city, amount } = await createPeopleDataset(bench, 'Grid bench', ROWS);
    const random = (() => {
      let seed = 42;
      return () => {
        seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
        return seed / 2 ** 31;
      };
    })();
    const rows: BenchRow[] = [];
    const windowRow = (label: string, times: number[]) => {
      const p99 = round(percentile(times, 99), 1);
      rows.push({
        name: `sheets window ${label} p50`,
        value: round(percentile(times, 50), 1),
        unit: 'ms',
      });
      rows.push({
        name: `sheets window ${label} p99`,
        value: p99,
        unit: 'ms',
        against: { label: 'goal ms', value: 20 },
        ratio: round(p99 / 20),
        goal: '< 20 ms',
        pass: p99 < 20,
      });
    };

    const read = (query: Parameters<typeof sheets.readWindow>[3]) =>
      sheets.readWindow(bench.actor, bench.projectId, dataset.id, query);
    await read({ offset: 0, limit: 100 });
    windowRow(
      'unsorted',
      await timeEach(SAMPLES, () =>
        read({ offset: Math.floor(random() * (ROWS - 100)), limit: 100 }),
      ),
    );

    const sorted = { sort: [{ columnId: name.id, direction: 'asc' as const }] };
    let started = performance.now();
    await read({ offset: 0, limit: 100, ...sorted });
    rows.push({
      name: 'sheets first sorted window (builds the ordering)',
      value: round(performance.now() - started, 0),
      unit: 'ms',
    });
    // The view's copy of the values is made in the background after that first window.
    await bench.module.data.copiesSettled();
    rows.push({
      name: 'sheets sorted view: values copied next to the ordering (background)',
      value: round(performance.now() - started, 0),
      unit: 'ms after the first window was asked for',
    });
    windowRow(
      'sorted',
      await timeEach(SAMPLES, () =>
        read({ offset: Math.floor(random() * (ROWS - 100)), limit: 100, ...sorted }),
      ),
    );

    const filtered = {
      ...sorted,
      filters: [{ columnId: city.id, op: 'equals' as const, value: 'Kyoto' }],
    };
    const total = (await read({ offset: 0, limit: 1, ...filtered })).total;
    await bench.module.data.copiesSettled();
    windowRow(
      'sorted+filtered',
      await timeEach(SAMPLES, () =>
        read({ offset: Math.floor(random() * (total - 100)), limit: 100, ...filtered }),
      ),
    );

    const victims = Array.from({ length: 10_000 }, (_, index) =>
      BigInt(index * Math.floor(ROWS / 10_000) + 7),
    );
    started = performance.now();
    const { deleted } = await sheets.deleteRows(bench.actor, bench.projectId, dataset.id, victims);
    rows.push({
      name: 'sheets delete 10,000 scattered rows (one statement)',
      value: round(performance.now() - started, 0),
      unit: 'ms',
    });
    if (deleted !== 10_000) throw new Error(`deleted ${deleted}`);

    const columns = [
      { id: name.id, name: 'Name', type: 'text' as const },
      { id: city.id, name: 'City', type: 'text' as const },
      { id: amount.id, name: 'Amount', type: 'number' as const },
    ];
    started = performance.now();
    const file = await exportToFile(bench.platform.duckdb, {
      datasetId: dataset.id,
      columns,
      format: 'parquet',
      withMetadata: false,
      dir: bench.dir,
    });
    const oursMs = performance.now() - started;
    const peerFile = path.join(bench.dir, 'peer.parquet');
    started = performance.now();
    await bench.platform.duckdb.run(
      `copy (select * from ${datasetTable(dataset.id)}) to '${peerFile}' (format parquet)`,
    );
    const peerMs = performance.now() - started;
    rows.push({
      name: `sheets export ${round((ROWS - 10_000) / 1e6, 2)}M rows to Parquet (${round(statSync(file).size / 1024 / 1024, 0)} MB)`,
      value: round(oursMs, 0),
      unit: 'ms',
      against: { label: 'duckdb COPY ms', value: round(peerMs, 0) },
      ratio: round(oursMs / peerMs),
    });
    rmSync(file, { force: true });
    rmSync(peerFile, { force: true });
    return rows;
  } finally {
    await bench.close();
  }
}
