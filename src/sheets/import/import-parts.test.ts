import { readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { describe, expect, it } from 'vitest';
import { duckDbPerSuite } from '../../../test/per-suite.ts';
import { uuidv7 } from '../../platform/ids.ts';
import {
  datasetIndex,
  datasetSequence,
  datasetSequenceName,
  datasetTable,
  stateColumn,
  valueColumn,
} from '../sheet-query.ts';
import type { ColumnType } from '../sheet-schema.ts';
import {
  describeCsvForRead,
  describeSource,
  type ImportOutcome,
  importIntoTable,
  type SourceSpec,
  type TargetColumn,
} from './import-reader.ts';

/**
 * A large CSV is read in parts at once (import-reader.ts `importInParts`), or whole on every
 * DuckDB thread with its rows numbered after the read (`importNumberedAfter`). Every file here
 * is imported three ways — whole on one connection numbering while reading, whole numbered
 * after (`numberedAfterMinBytes: 1`, read as sniffed once: `describeCsvForRead`) and in parts on two connections (`partsMinBytes: 1`) —
 * and they must agree: the same rows in the same order, the same rejected lines with the same
 * line numbers, the same widening, the same refusal.
 */
describe('CSV import in parts', () => {
  const suite = duckDbPerSuite({ threads: 2, connections: 4 });

  const partsDir = () => path.join(suite.dir, 'parts');

  /** `whole`: one connection (numbering while reading); `after`: one, numbered after the read. */
  type Mode = 'whole' | 'after' | 'parts';

  async function importFile(
    file: string,
    mode: Mode | boolean,
    extra: {
      maxBadShare?: number;
      signal?: AbortSignal;
      csv?: SourceSpec['csv'];
      /** Target column types other than the inferred ones (their cells convert). */
      types?: Record<string, ColumnType>;
      /** Called with each statement the import sends, once DuckDB has it. */
      onStatement?: (sql: string) => void;
      /** Described as the import does (sniffed once) in any mode, not only numbered after. */
      sniffedFirst?: boolean;
    } = {},
  ) {
    const how: Mode = mode === true ? 'whole' : mode === false ? 'parts' : mode;
    const given: SourceSpec = {
      reader: 'csv',
      path: file,
      csv: { encoding: 'utf-8', ...extra.csv },
    };
    // Numbered after the read, the file is read as the import describes it (import-prepare.ts):
    // sniffed once, then read with that dialect and those types and no second sniff.
    const described =
      how === 'after' || extra.sniffedFirst
        ? await suite.duckdb.withConnection((connection) => describeCsvForRead(connection, given))
        : undefined;
    const spec = described?.spec ?? given;
    const sources =
      described?.sources ??
      (await suite.duckdb.withConnection((connection) => describeSource(connection, spec)));
    const targets: TargetColumn[] = sources.map((source) => ({
      id: uuidv7(),
      sourceName: source.sourceName,
      type: extra.types?.[source.sourceName] ?? source.inferredType,
    }));
    const datasetId = uuidv7();
    rmSync(partsDir(), { recursive: true, force: true });
    writeFileSync(path.join(suite.dir, '.keep'), '');
    await import('node:fs/promises').then((fs) => fs.mkdir(partsDir(), { recursive: true }));
    await suite.duckdb.datasets.open(datasetId, { create: true });
    const outcome = await suite.duckdb.withConnections(how === 'parts' ? 2 : 1, (connections) =>
      importIntoTable(
        extra.onStatement ? connections.map((c) => observed(c, extra.onStatement!)) : connections,
        {
          datasetId,
          spec,
          sources,
          targets,
          maxBadShare: extra.maxBadShare ?? 0.5,
          signal: extra.signal,
          partsDir: partsDir(),
          partsMinBytes: 1,
          numberedAfterMinBytes: how === 'after' ? 1 : Number.POSITIVE_INFINITY,
          finish: async (connection, lastRowId) => {
            await connection.run(
              `create sequence ${datasetSequence(datasetId)} start ${lastRowId + 1}`,
            );
            await connection.run(
              `create unique index if not exists ${datasetIndex(datasetId)} on ${datasetTable(datasetId)} (_row_id)`,
            );
          },
        },
      ),
    );
    const rows = await suite.duckdb.query<Record<string, unknown>>(
      `select _row_id, ${targets.map((target) => `${valueColumn(target.id)}::varchar as "${target.sourceName}", ${cellState(stateColumn(target.id))} as "${target.sourceName}:state"`).join(', ')} from ${datasetTable(datasetId)} order by _row_id`,
    );
    const [next] = await suite.duckdb.query<{ next: bigint }>(
      `select nextval(${datasetSequenceName(datasetId)}) as next`,
    );
    return {
      outcome,
      rows,
      datasetId,
      next: Number(next?.next),
      targets,
      sniffed: spec.csv?.sniffed !== undefined,
    };
  }

  /** A cell's state without its time: status, error and the text that did not convert. */
  const cellState = (column: string) =>
    `nullif(concat_ws(' | ', ${column}->>'status', ${column}->>'error', ${column}->>'raw'), '')`;

  /** The same DuckDB connection; `onStatement` hears of each statement once it is running. */
  const observed = (connection: DuckDBConnection, onStatement: (sql: string) => void) =>
    new Proxy(connection, {
      get(target, property) {
        if (property === 'run' || property === 'runAndReadAll')
          return (sql: string) => {
            const running = target[property](sql);
            onStatement(sql);
            return running;
          };
        const value = Reflect.get(target, property, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });

  const values = (rows: Record<string, unknown>[]) => rows.map(({ _row_id, ...rest }) => rest);

  async function both(file: string, extra: Parameters<typeof importFile>[2] = {}) {
    const whole = await importFile(file, true, extra);
    const after = await importFile(file, 'after', extra);
    const parts = await importFile(file, false, extra);
    expect(whole.outcome).toMatchObject({ parts: 1, numberedAfter: false });
    expect(after.outcome).toMatchObject({ parts: 1, numberedAfter: true });
    expect(after.sniffed).toBe(true);
    expect(parts.outcome).toMatchObject({ parts: 2, numberedAfter: false });
    expect(values(parts.rows)).toEqual(values(whole.rows));
    // Numbered after the read: the same rows with the same ids as numbering while reading.
    expect(after.rows).toEqual(whole.rows);
    expect(after.next).toBe(whole.next);
    const comparable = ({
      parts: _parts,
      numberedAfter: _after,
      conversions,
      ...rest
    }: ImportOutcome) => ({
      ...rest,
      conversions: conversions.length,
    });
    expect(comparable(parts.outcome)).toEqual(comparable(whole.outcome));
    expect(comparable(after.outcome)).toEqual(comparable(whole.outcome));
    // Ids are unique and in file order, and the sequence continues after the last.
    const ids = parts.rows.map((row) => Number(row._row_id));
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(new Set(ids).size).toBe(ids.length);
    expect(parts.next).toBe(Math.max(0, ...ids) + 1);
    // Nothing is left behind in the parts directory.
    expect(readdirSync(partsDir())).toEqual([]);
    return { whole, parts, ids };
  }

  const write = (name: string, text: string) => {
    const file = path.join(suite.dir, name);
    writeFileSync(file, text);
    return file;
  };
  const lines = (count: number, line: (index: number) => string) =>
    Array.from({ length: count }, (_, index) => line(index + 1)).join('');

  it('reads a plain CSV in two parts with ids 1…N, as the whole read does', async () => {
    const file = write(
      'plain.csv',
      `id,name,amount\n${lines(5_000, (index) => `${index},"name ${index}, ok",${index / 4}\n`)}`,
    );
    const { ids } = await both(file);
    expect(ids).toEqual(Array.from({ length: 5_000 }, (_, index) => index + 1));
  });

  it('never cuts inside a quoted field that holds line feeds (CRLF file)', async () => {
    // Every line of the middle is inside one quoted field: the cut must land after it.
    const long = lines(3_000, (index) => `line ${index} of a long note\r\n`);
    const file = write(
      'quoted.csv',
      `id,note\r\n${lines(1_000, (index) => `${index},"a\r\nb"\r\n`)}1001,"${long}"\r\n${lines(1_000, (index) => `${1_001 + index},plain\r\n`)}`,
    );
    const { parts } = await both(file);
    expect(parts.rows).toHaveLength(2_001);
    expect(String(parts.rows[1_000]!.note)).toContain('line 3000 of a long note');
  });

  it('reports rejected lines of every part with their line numbers in the file', async () => {
    const file = write(
      'ragged.csv',
      `a,b\n${lines(4_000, (index) => (index % 997 === 0 ? `${index},x,extra\n` : `${index},x\n`))}`,
    );
    const { parts } = await both(file);
    expect(parts.outcome.rejected).toBe(4);
    // Line 1 is the header: the row with a = 997 is on line 998.
    expect(parts.outcome.rejects.map((reject) => reject.line)).toEqual([998, 1995, 2992, 3989]);
  });

  it('widens a column to text when a later part breaks its inferred type', async () => {
    const file = write(
      'late.csv',
      `n,label\n${lines(30_000, (index) => `${index === 29_990 ? 'oops' : index},l${index}\n`)}`,
    );
    const { parts } = await both(file);
    expect(parts.outcome.widened).toEqual(['n']);
    expect(parts.rows[29_989]!.n).toBe('oops');
  });

  it('writes nothing when too many lines are bad', async () => {
    const file = write(
      'bad.csv',
      `a,b\n${lines(2_000, (index) => (index > 1_000 ? `${index},x,y,z\n` : `${index},x\n`))}`,
    );
    for (const mode of ['whole', 'after', 'parts'] as const) {
      const error = await importFile(file, mode, { maxBadShare: 0.1 }).catch((caught) => caught);
      expect(error).toMatchObject({ code: 'VALIDATION_ERROR' });
    }
    const tables = await suite.duckdb.query<{ name: string }>(
      `select table_name as name from duckdb_tables() where table_name like 'ds_%'`,
    );
    const before = tables.length;
    await importFile(file, false, { maxBadShare: 0.1 }).catch(() => {});
    await importFile(file, 'after', { maxBadShare: 0.1 }).catch(() => {});
    expect(
      await suite.duckdb.query(
        `select table_name from duckdb_tables() where table_name like 'ds_%'`,
      ),
    ).toHaveLength(before);
    expect(readdirSync(partsDir())).toEqual([]);
  });

  /**
   * Cancels an import when it sends a statement starting with `trigger` (an event of the
   * import, not a timer): whether DuckDB is interrupted mid-read or the statement ends first,
   * the import must end cancelled with no table and no parts left.
   */
  async function cancelAt(name: string, rows: number, whole: Mode | boolean, trigger: string) {
    const file = write(name, `a,b\n${lines(rows, (index) => `${index},text ${index}\n`)}`);
    const before = await suite.duckdb.query(`select 1 from duckdb_tables()`);
    const controller = new AbortController();
    const error = await importFile(file, whole, {
      signal: controller.signal,
      onStatement: (sql) => {
        if (sql.startsWith(trigger)) controller.abort(new Error('stop'));
      },
    }).catch((caught) => caught);
    expect(String(error)).toContain('stop');
    expect(await suite.duckdb.query(`select 1 from duckdb_tables()`)).toHaveLength(before.length);
    expect(readdirSync(partsDir())).toEqual([]);
  }

  it('is cancelled by its signal while the parts are read, leaving no table and no parts', async () => {
    await cancelAt('big.csv', 400_000, false, 'insert into');
  });

  it('is cancelled by its signal while a whole read runs, leaving no table', async () => {
    await cancelAt('big-whole.csv', 50_000, true, 'create table');
  });

  it('is cancelled by its signal while a read to be numbered after runs, leaving no table', async () => {
    await cancelAt('big-after.csv', 50_000, 'after', 'create table');
  });

  it('is cancelled between the committed read and its numbering, leaving no table', async () => {
    await cancelAt('big-numbering.csv', 50_000, 'after', 'update');
  });

  it('numbers a file DuckDB reads on several threads in file order, after the read', async () => {
    // ~26 MB: DuckDB's CSV reader gives each thread 8 MB of it, so the read runs in parallel.
    // Every 100,000th line has a field too many and is rejected.
    const file = write(
      'parallel.csv',
      `id,note\n${lines(400_000, (index) => `${index},"a note of some length, number ${index}, to fill the buffers"${index % 100_000 === 0 ? ',extra' : ''}\n`)}`,
    );
    const result = await importFile(file, 'after');
    expect(result.outcome).toMatchObject({ rows: 399_996, rejected: 4, numberedAfter: true });
    expect(result.outcome.rejects.map((reject) => reject.line)).toEqual([
      100_001, 200_001, 300_001, 400_001,
    ]);
    // Each row's id is its position among the rows read: its line's own id less the rejected
    // lines before it.
    const id = valueColumn(result.targets[0]!.id);
    const [mismatch] = await suite.duckdb.query<{ n: bigint; last: bigint }>(
      `select count(*) filter (where _row_id <> ${id} - ${id} // 100000) as n, max(_row_id) as last from ${datasetTable(result.datasetId)}`,
    );
    expect(mismatch).toEqual({ n: 0n, last: 399_996n });
    expect(result.next).toBe(399_997);
    // ~6 s alone, 22 s with both cores busy: the timeout is a hang guard, not a speed bound.
  }, 300_000);

  it('marks cells that do not convert to their column type the same way when numbered after', async () => {
    const file = write(
      'convert.csv',
      `id,amount\n${lines(3_000, (index) => `${index},${index % 500 === 0 ? `n/a ${index}` : index}\n`)}`,
    );
    const { whole, parts } = await both(file, { types: { amount: 'number' } });
    expect(whole.outcome.conversions).toHaveLength(1);
    expect(whole.outcome.conversions[0]).toMatchObject({ failed: 6 });
    expect(String(whole.rows[499]!['amount:state'])).toContain('n/a 500');
    expect(parts.rows[0]!['amount:state']).toBeNull();
  });

  it('reads TSV, files without a header, CRLF lines and a BOM in parts as whole', async () => {
    const tsv = write(
      'data.tsv',
      `\uFEFFcode\tlabel\r\n${lines(3_000, (index) => `${index}\tlabel "${index}"\r\n`)}`,
    );
    const { ids } = await both(tsv, { csv: { delimiter: '\t' } });
    expect(ids).toHaveLength(3_000);
    const headless = write(
      'headless.csv',
      lines(3_000, (index) => `${index},${index * 2}\n`),
    );
    const { ids: headlessIds } = await both(headless, { csv: { header: false } });
    expect(headlessIds).toEqual(Array.from({ length: 3_000 }, (_, index) => index + 1));
  });

  it('cuts by the quote the user gave, and reads a file sniffed with another quote whole', async () => {
    const file = write(
      'single-quoted.csv',
      `id,note\n${lines(3_000, (index) => `${index},'it''s\n"${index}"'\n`)}`,
    );
    const { parts } = await both(file, { csv: { quote: "'", escape: "'" } });
    expect(parts.rows[2_999]!.note).toBe(`it's\n"3000"`);
    const sniffed = await importFile(file, false);
    expect(sniffed.outcome.parts).toBe(1);
    expect(values(sniffed.rows)).toEqual(values(parts.rows));
  });

  it('cuts a file the import sniffed once by that sniff, without sniffing it again', async () => {
    const file = write(
      'sniffed.csv',
      `id;label;amount\n${lines(4_000, (index) => `${index};"l; ${index}";${index / 8}\n`)}`,
    );
    const statements: string[] = [];
    const parts = await importFile(file, false, {
      sniffedFirst: true,
      onStatement: (sql) => statements.push(sql),
    });
    expect(parts.sniffed).toBe(true);
    expect(parts.outcome.parts).toBe(2);
    expect(statements.filter((sql) => sql.includes('sniff_csv('))).toEqual([]);
    const whole = await importFile(file, true);
    expect(parts.rows).toEqual(whole.rows);
    expect(parts.outcome.rejected).toBe(0);
  });

  it('reads a file in another encoding whole (its bytes are not cut)', async () => {
    const file = write('latin.csv', `a,b\n${lines(2_000, (index) => `${index},caf\u00e9\n`)}`);
    const result = await importFile(file, false, { csv: { encoding: 'latin-1' } });
    expect(result.outcome.parts).toBe(1);
    expect(result.rows).toHaveLength(2_000);
  });

  it('reads a file it cannot cut safely whole', async () => {
    // One quoted field holds the whole file after the header: the only line end outside
    // quotes after the middle is the file's last byte, so there is no second part to read.
    const file = write('one-field.csv', `a,b\n1,"${'x\n'.repeat(50_000)}"\n`);
    const result = await importFile(file, false);
    expect(result.outcome.parts).toBe(1);
    expect(result.rows).toHaveLength(1);
  });
});
