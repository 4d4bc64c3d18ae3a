import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import type { DuckDBConnection } from '@duckdb/node-api';
import { validationError } from '../../platform/app-error.ts';
import type { DuckDb } from '../../platform/duckdb/duckdb.ts';
import { type ExportColumn, selectList, writeXlsx } from '../export/sheet-export.ts';
import type { ExportWriter } from '../export/sheet-export-service.ts';
import { importDir, randomImportPath } from '../import/import-files.ts';
import { datasetTable, valueColumn } from '../sheet-query.ts';
import type { ImageBlobStore } from './image-blob-store.ts';
import type { ImageStore } from './image-store.ts';
import { createZipWriter, ZipLimitError } from './image-zip-writer.ts';

/**
 * Exports that keep images (docs/images.md "Exports with images"):
 * - `csv`, `tsv`, `jsonl`, `xlsx` → a ZIP: `data.<format>` whose image cells hold the relative
 *   path of their file, and the files under `images/`;
 * - `parquet` → one file whose image columns are structs `{bytes, path}`, the Hugging Face
 *   `Image` feature (declared in the file's `huggingface` metadata, as the Hub writes it).
 * Only images the project holds are exported: a reference copied from another project exports
 * as null, its bytes never read. File names are made from the hash and the cell's name with
 * anything but letters, digits, `.`, `_` and `-` replaced, so no name leaves `images/`
 * (the ZIP writer checks every entry name again).
 */
export const IMAGE_EXPORT_FORMATS = ['csv', 'tsv', 'jsonl', 'xlsx', 'parquet'] as const;
export type ImageExportFormat = (typeof IMAGE_EXPORT_FORMATS)[number];

const SHA256 = /^[0-9a-f]{64}$/;
/** Files read into DuckDB per statement (read_blob's list), and hashes checked per query. */
const BATCH = 500;

const literal = (text: string) => `'${text.replaceAll("'", "''")}'`;

/** `<first 12 hex of the hash>-<safe name>`: the same rule in SQL as in isSafeZipName's terms. */
function fileNameSql(alias: string, value: string): string {
  const name = `coalesce(json_extract_string(${value}, '$.name'), '')`;
  const safe = `ltrim(regexp_replace(${name}, '[^A-Za-z0-9._-]', '_', 'g'), '.')`;
  return `substr(${alias}.sha256, 1, 12) || '-' || coalesce(nullif(left(${safe}, 100), ''), 'image')`;
}

/**
 * The images part of the one export path (export/sheet-export-service.ts `exportWith`): writes
 * the ZIP or the Parquet file; the service checks access, audits (`images: true` and the files
 * written) and removes the file if the audit fails.
 */
export function createImageExportWriter(deps: {
  duckdb: DuckDb;
  store: Pick<ImageStore, 'heldAmong'>;
  blobs: Pick<ImageBlobStore, 'originalPath'>;
  dataDir: string;
}): ExportWriter<ImageExportFormat> {
  const { duckdb, store, blobs } = deps;
  /** The project's images among the dataset's image cells, in a temp table on `connection`. */
  async function heldTable(
    connection: DuckDBConnection,
    projectId: string,
    datasetId: string,
    imageColumns: readonly ExportColumn[],
    withBytes: boolean,
  ) {
    const table = `export_images_${randomBytes(8).toString('hex')}`;
    const referenced = new Set<string>();
    for (const column of imageColumns) {
      const result = await connection.runAndReadAll(
        `select distinct json_extract_string(${valueColumn(column.id)}, '$.sha256') as sha from ${datasetTable(datasetId)} where ${valueColumn(column.id)} is not null`,
      );
      for (const row of result.getRowObjectsJS() as { sha: string | null }[])
        if (row.sha && SHA256.test(row.sha)) referenced.add(row.sha);
    }
    await connection.run(`create temp table ${table} (sha256 varchar primary key, content blob)`);
    const hashes = [...referenced];
    for (let start = 0; start < hashes.length; start += BATCH) {
      const held = (await store.heldAmong(projectId, hashes.slice(start, start + BATCH))).filter(
        (sha) => SHA256.test(sha),
      );
      if (held.length === 0) continue;
      if (withBytes)
        await connection.run(
          `insert into ${table} select regexp_extract(filename, '([0-9a-f]{64})$', 1), content from read_blob([${held.map((sha) => literal(blobs.originalPath(sha))).join(', ')}])`,
        );
      else
        await connection.run(
          `insert into ${table} (sha256) values ${held.map((sha) => `(${literal(sha)})`).join(', ')}`,
        );
    }
    return table;
  }

  async function write(
    connection: DuckDBConnection,
    projectId: string,
    datasetId: string,
    columns: readonly ExportColumn[],
    format: ImageExportFormat,
    withMetadata: boolean,
  ): Promise<{ path: string; rows: number; images: number; truncatedCells: number }> {
    const imageColumns = columns.filter((column) => column.type === 'image');
    const table = await heldTable(
      connection,
      projectId,
      datasetId,
      imageColumns,
      format === 'parquet',
    );
    try {
      const alias = (column: ExportColumn) => `i${imageColumns.indexOf(column)}`;
      const joins = imageColumns
        .map(
          (column) =>
            `left join ${table} ${alias(column)} on ${alias(column)}.sha256 = json_extract_string(${valueColumn(column.id)}, '$.sha256')`,
        )
        .join(' ');
      const from = `${datasetTable(datasetId)} ${joins}`;
      const held = (column: ExportColumn) => `${alias(column)}.sha256 is not null`;
      if (format === 'parquet') {
        const list = selectList(columns, {
          escapeFormulas: false,
          withMetadata,
          jsonAsText: true,
          image: (column, value) =>
            `case when ${held(column)} then struct_pack(bytes := ${alias(column)}.content, path := ${fileNameSql(alias(column), value)}) end`,
        });
        const features = Object.fromEntries(
          imageColumns.map((column) => [column.name, { _type: 'Image' }]),
        );
        const metadata = JSON.stringify({ info: { features } });
        const target = randomImportPath(importDir(deps.dataDir), '.parquet');
        try {
          const rows = await connection.run(
            `copy (select ${list} from ${from} order by _row_id) to ${literal(target)} (format parquet, compression zstd, kv_metadata {huggingface: ${literal(metadata)}})`,
          );
          return { path: target, rows: Number(rows.rowsChanged), images: 0, truncatedCells: 0 };
        } catch (error) {
          await rm(target, { force: true });
          throw error;
        }
      }
      const dir = importDir(deps.dataDir);
      const data = randomImportPath(dir, `.${format}`);
      const archive = randomImportPath(dir, '.zip');
      const zip = createZipWriter(archive);
      try {
        const image = (column: ExportColumn, value: string) =>
          `case when ${held(column)} then 'images/' || ${fileNameSql(alias(column), value)} end`;
        let rows: number;
        let truncatedCells = 0;
        if (format === 'xlsx') {
          // Excel cells hold the file names; the sheet is already compressed (stored as is).
          const written = await writeXlsx(
            connection,
            { datasetId, columns, withMetadata, image, from },
            data,
          );
          rows = written.rows;
          truncatedCells = written.truncatedCells;
          await zip.addFile('data.xlsx', data);
        } else {
          const list = selectList(columns, {
            escapeFormulas: format !== 'jsonl',
            withMetadata,
            jsonAsText: format !== 'jsonl',
            image,
          });
          const copyOptions = {
            csv: 'format csv, header true',
            tsv: "format csv, header true, delimiter '\t'",
            jsonl: 'format json',
          }[format];
          const written = await connection.run(
            `copy (select ${list} from ${from} order by _row_id) to ${literal(data)} (${copyOptions})`,
          );
          rows = Number(written.rowsChanged);
          await zip.addFile(`data.${format}`, data, { deflate: true });
        }
        let images = 0;
        if (imageColumns.length > 0) {
          const files = await connection.runAndReadAll(
            imageColumns
              .map(
                (column) =>
                  `select distinct ${fileNameSql(alias(column), valueColumn(column.id))} as name, ${alias(column)}.sha256 as sha from ${from} where ${held(column)}`,
              )
              .join(' union ')
              .concat(' order by name'),
          );
          for (const file of files.getRowObjectsJS() as { name: string; sha: string }[]) {
            await zip.addFile(`images/${file.name}`, blobs.originalPath(file.sha));
            images++;
          }
        }
        await zip.finish();
        return { path: archive, rows, images, truncatedCells };
      } catch (error) {
        zip.abort();
        await rm(archive, { force: true });
        if (error instanceof ZipLimitError) throw validationError(error.message);
        throw error;
      } finally {
        await rm(data, { force: true });
      }
    } finally {
      await connection.run(`drop table if exists ${table}`);
    }
  }

  return async ({ projectId, datasetId, columns, request }) => {
    const written = await duckdb.withConnection((connection) =>
      write(connection, projectId, datasetId, columns, request.format, request.withMetadata),
    );
    const parquet = request.format === 'parquet';
    return {
      path: written.path,
      rows: written.rows,
      contentType: parquet ? 'application/vnd.apache.parquet' : 'application/zip',
      extension: parquet ? 'parquet' : 'zip',
      truncatedCells: written.truncatedCells,
      summary: { images: true, imageFiles: written.images },
    };
  };
}
