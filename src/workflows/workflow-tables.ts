import type { ColumnType, Generated, Kysely } from 'kysely';
import type { DB, NullableTimestamp, Timestamp } from '../migrations/db-schema.ts';

/**
 * The workflow tables of migration 0660, typed beside the feature that owns them and joined
 * to the shared `DB` with `withTables` (as chat does).
 */
type Json<T = unknown> = ColumnType<T, string | undefined, string>;
type NullableJson = ColumnType<unknown, string | null | undefined, string | null>;
type BigCount = ColumnType<number | null, number | null | undefined, number | null>;

export type WorkflowStepStatus =
  | 'running'
  | 'retrying'
  | 'waiting'
  | 'completed'
  | 'reused'
  | 'skipped'
  | 'failed';

export interface WorkflowTable {
  id: string;
  project_id: string;
  name: string;
  version: Generated<number>;
  created_by: string | null;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
  deleted_at: NullableTimestamp;
}

export interface WorkflowVersionTable {
  workflow_id: string;
  version: number;
  definition: Json;
  created_by: string | null;
  created_at: Generated<Date>;
}

export interface WorkflowRunTable {
  id: string;
  workflow_id: string;
  version: number;
  project_id: string;
  inputs: Json<Record<string, string>>;
  started_by: string | null;
  rerun_of: string | null;
  from_step: string | null;
  created_at: Generated<Date>;
}

export interface WorkflowRunStepTable {
  run_id: string;
  step_id: string;
  position: number;
  kind: string;
  status: WorkflowStepStatus;
  attempts: Generated<number>;
  started_at: NullableTimestamp;
  finished_at: NullableTimestamp;
  duration_ms: number | null;
  input_tokens: BigCount;
  output_tokens: BigCount;
  cost_nano: BigCount;
  error: NullableJson;
}

export interface WorkflowApprovalTable {
  run_id: string;
  step_id: string;
  decision: 'approved' | 'rejected';
  note: Generated<string>;
  decided_by: string | null;
  decided_at: Timestamp;
}

export interface WorkflowUseTable {
  workflow_id: string;
  target_kind: 'dataset' | 'document' | 'agent';
  target_id: string;
}

// A type alias (not an interface): `withTables` needs an index-compatible record.
export type WorkflowTables = {
  workflow: WorkflowTable;
  workflow_version: WorkflowVersionTable;
  workflow_run: WorkflowRunTable;
  workflow_run_step: WorkflowRunStepTable;
  workflow_approval: WorkflowApprovalTable;
  workflow_use: WorkflowUseTable;
};

export type WorkflowDb = Kysely<DB & WorkflowTables>;

export const workflowDb = (db: Kysely<DB>): WorkflowDb => db.withTables<WorkflowTables>();
