import { writeFileSync } from 'node:fs';
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
 * A large CSV is read whole on every DuckDB thread with its rows numbered after the read
 * (import-reader.ts `importNumberedAfter`), a small one numbering while it is read
 * (`importWhole`). Every file here is imported both ways — numbering while reading, and
 * numbered after (`numberedAfterMinBytes: 1`, read as sniffed once: `describeCsvForRead`) —
 * and they must agree: the same rows with the same ids, the same rejected lines with the same
 * line numbers, the same widening, the same refusal.
 */
describe('CSV import numbered after the read', () => {
  const suite = duckDbPerSuite({ threads: 2, connections: 4 });

  /** `whole`: numbering while reading; `after`: read on every thread, numbered after. */
  type Mode = 'whole' | 'after';

  async function importFile(
    file: string,
    mode: Mode,
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
    const how = mode;
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
    await suite.duckdb.datasets.open(datasetId, { create: true });
    const outcome = await suite.duckdb.withConnection((connection) =>
      importIntoTable(extra.onStatement ? observed(connection, extra.onStatement) : connection, {
        datasetId,
        spec,
        sources,
        targets,
        maxBadShare: extra.maxBadShare ?? 0.5,
        signal: extra.signal,
        numberedAfterMinBytes: how === 'after' ? 1 : Number.POSITIVE_INFINITY,
        finish: async (connection, lastRowId) => {
          await connection.run(
            `create sequence ${datasetSequence(datasetId)} start ${lastRowId + 1}`,
          );
          await connection.run(
            `create unique index if not exists ${datasetIndex(datasetId)} on ${datasetTable(datasetId)} (_row_id)`,
          );
        },
      }),
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

  async function both(file: string, extra: Parameters<typeof importFile>[2] = {}) {
    const whole = await importFile(file, 'whole', extra);
    const after = await importFile(file, 'after', extra);
    expect(whole.outcome).toMatchObject({ numberedAfter: false });
    expect(after.outcome).toMatchObject({ numberedAfter: true });
    expect(after.sniffed).toBe(true);
    // Numbered after the read: the same rows with the same ids as numbering while reading.
    expect(after.rows).toEqual(whole.rows);
    expect(after.next).toBe(whole.next);
    const comparable = ({ numberedAfter: _after, conversions, ...rest }: ImportOutcome) => ({
      ...rest,
      conversions: conversions.length,
    });
    expect(comparable(after.outcome)).toEqual(comparable(whole.outcome));
    // Ids are unique and in file order, and the sequence continues after the last.
    const ids = after.rows.map((row) => Number(row._row_id));
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(new Set(ids).size).toBe(ids.length);
    expect(after.next).toBe(Math.max(0, ...ids) + 1);
    return { whole, after, ids };
  }

  const write = (name: string, text: string) => {
    const file = path.join(suite.dir, name);
    writeFileSync(file, text);
    return file;
  };
  const lines = (count: number, line: (index: number) => string) =>
    Array.from({ length: count }, (_, index) => line(index + 1)).join('');

  it('reads a plain CSV with ids 1…N, as numbering while reading does', async () => {
    const file = write(
      'plain.csv',
      `id,name,amount\n${lines(5_000, (index) => `${index},"name ${index}, ok",${index / 4}\n`)}`,
    );
    const { ids } = await both(file);
    expect(ids).toEqual(Array.from({ length: 5_000 }, (_, index) => index + 1));
  });

  it('reads quoted fields that hold line feeds (CRLF file)', async () => {
    // Every line of the middle is inside one quoted field.
    const long = lines(3_000, (index) => `line ${index} of a long note\r\n`);
    const file = write(
      'quoted.csv',
      `id,note\r\n${lines(1_000, (index) => `${index},"a\r\nb"\r\n`)}1001,"${long}"\r\n${lines(1_000, (index) => `${1_001 + index},plain\r\n`)}`,
    );
    const { after } = await both(file);
    expect(after.rows).toHaveLength(2_001);
    expect(String(after.rows[1_000]!.note)).toContain('line 3000 of a long note');
  });

  it('reports rejected lines with their line numbers in the file', async () => {
    const file = write(
      'ragged.csv',
      `a,b\n${lines(4_000, (index) => (index % 997 === 0 ? `${index},x,extra\n` : `${index},x\n`))}`,
    );
    const { after } = await both(file);
    expect(after.outcome.rejected).toBe(4);
    // Line 1 is the header: the row with a = 997 is on line 998.
    expect(after.outcome.rejects.map((reject) => reject.line)).toEqual([998, 1995, 2992, 3989]);
  });

  it('widens a column to text when a later line breaks its inferred type', async () => {
    const file = write(
      'late.csv',
      `n,label\n${lines(30_000, (index) => `${index === 29_990 ? 'oops' : index},l${index}\n`)}`,
    );
    const { after } = await both(file);
    expect(after.outcome.widened).toEqual(['n']);
    expect(after.rows[29_989]!.n).toBe('oops');
  });

  it('writes nothing when too many lines are bad', async () => {
    const file = write(
      'bad.csv',
      `a,b\n${lines(2_000, (index) => (index > 1_000 ? `${index},x,y,z\n` : `${index},x\n`))}`,
    );
    for (const mode of ['whole', 'after'] as const) {
      const error = await importFile(file, mode, { maxBadShare: 0.1 }).catch((caught) => caught);
      expect(error).toMatchObject({ code: 'VALIDATION_ERROR' });
    }
    const tables = await suite.duckdb.query<{ name: string }>(
      `select table_name as name from duckdb_tables() where table_name like 'ds_%'`,
    );
    const before = tables.length;
    await importFile(file, 'whole', { maxBadShare: 0.1 }).catch(() => {});
    await importFile(file, 'after', { maxBadShare: 0.1 }).catch(() => {});
    expect(
      await suite.duckdb.query(
        `select table_name from duckdb_tables() where table_name like 'ds_%'`,
      ),
    ).toHaveLength(before);
  });

  /**
   * Cancels an import when it sends a statement starting with `trigger` (an event of the
   * import, not a timer): whether DuckDB is interrupted mid-read or the statement ends first,
   * the import must end cancelled with no table left.
   */
  async function cancelAt(name: string, rows: number, whole: Mode, trigger: string) {
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
  }

  it('is cancelled by its signal while a whole read runs, leaving no table', async () => {
    await cancelAt('big-whole.csv', 50_000, 'whole', 'create table');
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
    const { whole, after } = await both(file, { types: { amount: 'number' } });
    expect(whole.outcome.conversions).toHaveLength(1);
    expect(whole.outcome.conversions[0]).toMatchObject({ failed: 6 });
    expect(String(whole.rows[499]!['amount:state'])).toContain('n/a 500');
    expect(after.rows[0]!['amount:state']).toBeNull();
  });

  it('reads TSV, files without a header, CRLF lines and a BOM numbered after as while reading', async () => {
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

  it('reads by the quote the user gave', async () => {
    const file = write(
      'single-quoted.csv',
      `id,note\n${lines(3_000, (index) => `${index},'it''s\n"${index}"'\n`)}`,
    );
    const { after } = await both(file, { csv: { quote: "'", escape: "'" } });
    expect(after.rows[2_999]!.note).toBe(`it's\n"3000"`);
  });

  it('reads a file the import sniffed once by that sniff, without sniffing it again', async () => {
    const file = write(
      'sniffed.csv',
      `id;label;amount\n${lines(4_000, (index) => `${index};"l; ${index}";${index / 8}\n`)}`,
    );
    const statements: string[] = [];
    const after = await importFile(file, 'after', { onStatement: (sql) => statements.push(sql) });
    expect(after.sniffed).toBe(true);
    expect(statements.filter((sql) => sql.includes('sniff_csv('))).toEqual([]);
    expect(statements.filter((sql) => sql.includes('auto_detect = false'))).toHaveLength(1);
    const whole = await importFile(file, 'whole');
    expect(after.rows).toEqual(whole.rows);
    expect(after.outcome.rejected).toBe(0);
  });

  it('reads a file in another encoding numbered after', async () => {
    const file = path.join(suite.dir, 'latin.csv');
    writeFileSync(
      file,
      Buffer.from(`a,b\n${lines(2_000, (index) => `${index},caf\u00e9\n`)}`, 'latin1'),
    );
    const result = await importFile(file, 'after', { csv: { encoding: 'latin-1' } });
    expect(result.outcome.numberedAfter).toBe(true);
    expect(result.rows).toHaveLength(2_000);
    expect(result.rows[1_999]).toMatchObject({ _row_id: 2_000n, b: 'caf\u00e9' });
  });

  it('reads a file whose one quoted field holds nearly all of it', async () => {
    const file = write('one-field.csv', `a,b\n1,"${'x\n'.repeat(50_000)}"\n`);
    const { after } = await both(file);
    expect(after.rows).toHaveLength(1);
  });
});
