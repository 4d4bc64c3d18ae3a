import type { ColumnType, Generated } from 'kysely';

/**
 * The tables as the migrations in this folder leave them. Kept by hand beside the
 * migrations: a migration that changes a table changes its interface here in the same commit.
 */
export type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;

export interface InstanceSettingTable {
  key: string;
  value: unknown;
  updated_at: Generated<Timestamp>;
}

// — sheets (migration 0300) —
export interface DatasetTable {
  id: string;
  project_id: string;
  name: string;
  status: Generated<'importing' | 'ready' | 'failed'>;
  created_by: string | null;
  created_at: Generated<Timestamp>;
  updated_at: Generated<Timestamp>;
  deleted_at: Timestamp | null;
  purge_after: Timestamp | null;
}

export interface DatasetColumnTable {
  id: string;
  dataset_id: string;
  name: string;
  type: 'text' | 'integer' | 'number' | 'boolean' | 'date' | 'timestamp' | 'json';
  kind: Generated<'static' | 'formula' | 'ai'>;
  formula: string | null;
  position: number;
  hidden: Generated<boolean>;
  created_at: Generated<Timestamp>;
  updated_at: Generated<Timestamp>;
}

export interface DatasetImportTable {
  id: string;
  project_id: string;
  dataset_id: string | null;
  source: 'upload' | 'url' | 'hf' | 'path';
  display_name: string;
  format: 'csv' | 'tsv' | 'jsonl' | 'json' | 'parquet' | 'xlsx' | null;
  status: 'uploaded' | 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';
  options: Generated<unknown>;
  preview: unknown;
  file_path: string | null;
  size_bytes: number | null;
  rows_imported: Generated<number>;
  bytes_read: Generated<number>;
  rows_rejected: Generated<number>;
  rejects: Generated<unknown>;
  error: unknown;
  job_id: string | null;
  cancel_requested: Generated<boolean>;
  created_by: string | null;
  created_at: Generated<Timestamp>;
  started_at: Timestamp | null;
  finished_at: Timestamp | null;
}

export interface DB {
  instance_setting: InstanceSettingTable;
  dataset: DatasetTable;
  dataset_column: DatasetColumnTable;
  dataset_import: DatasetImportTable;
}
