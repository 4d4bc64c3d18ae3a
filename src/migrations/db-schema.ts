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

export interface DB {
  instance_setting: InstanceSettingTable;
}
