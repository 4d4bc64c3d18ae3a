import { randomBytes } from 'node:crypto';
import type { DuckDBConnection } from '@duckdb/node-api';
import type { DuckDb } from '../../platform/duckdb/duckdb.ts';
import type { ImageColumnFiller } from '../import/import-context.ts';
import type { ImportConversion } from '../import/import-reader.ts';
import { errorStateSql } from '../sheet-cells.ts';
import { datasetTable, stateColumn, valueColumn } from '../sheet-query.ts';
import type { ImageService } from './image-service.ts';

/**
 * Image columns of an imported Parquet file (docs/images.md "Parquet round trip"): a column
 * typed as the Hugging Face `Image` struct `{bytes BLOB, path VARCHAR}` becomes an `image`
 * column. The import reads it as NULLs; this then stores each row's bytes through the same
 * checks as any image (magic bytes, byte and pixel limits, a full decode) and writes the
 * reference, or an error cell naming the reason (the struct's path kept as the cell's raw
 * text). A struct with only a path is refused: a path is never fetched.
 *
 * The structs are copied once into a temp table numbered like the dataset's rows, then read
 * in batches of at most BATCH_ROWS rows and BATCH_BYTES bytes, so memory holds one batch.
 */
const BATCH_ROWS = 64;
const BATCH_BYTES = 64 * 1024 * 1024;
const FAILURES_KEPT = 100;

const literal = (text: string) => `'${text.replaceAll("'", "''")}'`;
const quoteName = (name: string) => `"${name.replaceAll('"', '""')}"`;

interface CellResult {
  rowId: bigint;
  value: string | null;
  error: string | null;
  raw: string | null;
}

async function writeCells(
  connection: DuckDBConnection,
  datasetId: string,
  columnId: string,
  cells: readonly CellResult[],
) {
  if (cells.length === 0) return;
  const text = (value: string | null) => (value === null ? 'null::varchar' : literal(value));
  const values = cells
    .map(
      (cell) =>
        `(${cell.rowId}::bigint, ${text(cell.value)}, ${text(cell.error)}, ${text(cell.raw)})`,
    )
    .join(', ');
  await connection.run(
    `update ${datasetTable(datasetId)} set ${valueColumn(columnId)} = v.value::json, ${stateColumn(columnId)} = case when v.error is null then null else ${errorStateSql('null::json', 'v.error', 'v.raw')} end from (values ${values}) v(row_id, value, error, raw) where _row_id = v.row_id`,
  );
}

export function createParquetImageFiller(deps: {
  duckdb: DuckDb;
  images: Pick<ImageService, 'storeImage'>;
  maxBytes: number;
}): ImageColumnFiller {
  const { images, maxBytes } = deps;

  async function fillColumn(
    connection: DuckDBConnection,
    input: Parameters<ImageColumnFiller['fill']>[0],
    column: { id: string; sourceName: string },
  ): Promise<ImportConversion> {
    const table = `import_images_${randomBytes(8).toString('hex')}`;
    const source = quoteName(column.sourceName);
    // Numbered as the import numbered the dataset's rows (row_number() over the same source).
    await connection.run(
      `create temp table ${table} as select (row_number() over ())::bigint as row_id, ${source}.bytes as bytes, ${source}.path as path from ${input.source}`,
    );
    const conversion: ImportConversion = { columnId: column.id, failed: 0, failures: [] };
    try {
      const sizes = (
        await connection.runAndReadAll(
          `select row_id, octet_length(bytes)::bigint as size from ${table} where bytes is not null or path is not null order by row_id`,
        )
      ).getRowObjectsJS() as { row_id: bigint; size: bigint | null }[];
      let start = 0;
      while (start < sizes.length) {
        if (input.signal?.aborted) throw input.signal.reason;
        let end = start;
        let bytes = 0;
        while (
          end < sizes.length &&
          end - start < BATCH_ROWS &&
          (end === start || bytes + Number(sizes[end]!.size ?? 0) <= BATCH_BYTES)
        ) {
          const size = Number(sizes[end]!.size ?? 0);
          if (size <= maxBytes) bytes += size;
          end++;
        }
        const first = sizes[start]!.row_id;
        const last = sizes[end - 1]!.row_id;
        const rows = (
          await connection.runAndReadAll(
            `select row_id, case when octet_length(bytes) <= ${maxBytes} then bytes end as bytes, octet_length(bytes)::bigint as size, path from ${table} where row_id between ${first} and ${last} and (bytes is not null or path is not null) order by row_id`,
          )
        ).getRowObjectsJS() as {
          row_id: bigint;
          bytes: Uint8Array | null;
          size: bigint | null;
          path: string | null;
        }[];
        const cells: CellResult[] = [];
        for (const row of rows) {
          const name = row.path?.split(/[\\/]/).pop() || `row-${row.row_id}`;
          let reason: string | undefined;
          if (row.size === null)
            reason = 'The image has no bytes, only a path (a path is never fetched)';
          else if (row.bytes === null)
            reason = `The image is larger than the limit of ${maxBytes} bytes`;
          else {
            const stored = await images.storeImage(input.projectId, {
              name,
              bytes: Buffer.from(row.bytes.buffer, row.bytes.byteOffset, row.bytes.byteLength),
            });
            if (stored.ok)
              cells.push({
                rowId: row.row_id,
                value: JSON.stringify(stored.reference),
                error: null,
                raw: null,
              });
            else reason = stored.reason;
          }
          if (reason !== undefined) {
            const raw = (row.path ?? name).slice(0, 300);
            cells.push({ rowId: row.row_id, value: null, error: reason, raw });
            conversion.failed++;
            if (conversion.failures.length < FAILURES_KEPT)
              conversion.failures.push({ rowId: row.row_id.toString(), raw: `${raw}: ${reason}` });
          }
        }
        await writeCells(connection, input.datasetId, column.id, cells);
        start = end;
      }
      return conversion;
    } finally {
      await connection.run(`drop table if exists ${table}`).catch(() => {});
    }
  }

  return {
    fill: (input) =>
      deps.duckdb.withConnection(async (connection) => {
        const conversions: ImportConversion[] = [];
        for (const column of input.columns)
          conversions.push(await fillColumn(connection, input, column));
        return conversions;
      }),
  };
}
