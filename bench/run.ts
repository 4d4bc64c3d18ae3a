// `npm run bench [-- filter]`: runs every bench/*.bench.ts (or, with a filter, the one named
// exactly `<filter>.bench.ts` if there is one, else those whose name contains the filter), prints
// one table, and writes bench/results/latest.json.
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Bench, BenchRow } from './bench-types.ts';

const here = import.meta.dirname;
const filter = process.argv[2];
const all = readdirSync(here).filter((file) => file.endsWith('.bench.ts'));
const exact = filter ? all.filter((file) => file === `${filter}.bench.ts`) : [];
const files = (
  exact.length > 0 ? exact : all.filter((file) => !filter || file.includes(filter))
).sort();

const results: { file: string; rows: BenchRow[]; error?: string }[] = [];
for (const file of files) {
  process.stderr.write(`bench: ${file}\n`);
  try {
    const module = (await import(pathToFileURL(path.join(here, file)).href)) as { default: Bench };
    const rows = await module.default();
    results.push({ file, rows });
    // Each file's rows as soon as it ends, so a long run that is stopped keeps what it measured.
    for (const row of rows) process.stderr.write(`bench:   ${JSON.stringify(row)}\n`);
  } catch (error) {
    const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
    process.stderr.write(`bench: ${file} failed: ${message}\n`);
    results.push({ file, rows: [], error: message.split('\n')[0] });
  }
}

const lines: string[][] = [['benchmark', 'value', 'against', 'ratio', 'goal', '']];
for (const { file, rows, error } of results) {
  if (error) lines.push([file, 'FAILED', error, '', '', '']);
  for (const row of rows) {
    lines.push([
      row.name,
      `${row.value} ${row.unit}`,
      row.against ? `${row.against.label} ${row.against.value}` : '',
      row.ratio === undefined ? '' : String(row.ratio),
      row.goal ?? '',
      row.pass === undefined ? '' : row.pass ? 'ok' : 'MISSED',
    ]);
  }
}
const widths = lines[0]!.map((_, column) => Math.max(...lines.map((line) => line[column]!.length)));
for (const line of lines) {
  process.stdout.write(
    `${line
      .map((cell, column) => cell.padEnd(widths[column]!))
      .join('  ')
      .trimEnd()}\n`,
  );
}

mkdirSync(path.join(here, 'results'), { recursive: true });
writeFileSync(
  path.join(here, 'results', 'latest.json'),
  JSON.stringify(
    { at: new Date().toISOString(), node: process.version, cpus: os.cpus().length, results },
    null,
    2,
  ),
);
process.exit(results.some((result) => result.error) ? 1 : 0);
