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

// — accounts, projects, audit (migrations 0100–0102) —
/** A nullable timestamptz: read as Date | null, written as Date, ISO string or null. */
export type NullableTimestamp = ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;

export interface AppUserTable {
  id: string;
  email: string;
  display_name: Generated<string>;
  password_hash: string;
  is_admin: Generated<boolean>;
  /** AES-256-GCM ciphertext (src/platform/crypto.ts), never the secret itself. */
  mfa_secret: string | null;
  mfa_pending_secret: string | null;
  mfa_enabled_at: NullableTimestamp;
  mfa_last_step: number | null;
  disabled_at: NullableTimestamp;
  password_changed_at: Timestamp;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface UserSessionTable {
  id: string;
  user_id: string;
  token_hash: string;
  created_at: Timestamp;
  last_seen_at: Timestamp;
  expires_at: Timestamp;
  revoked_at: NullableTimestamp;
  ip: string | null;
  user_agent: string | null;
}

export interface ApiKeyTable {
  id: string;
  user_id: string;
  name: string;
  prefix: string;
  key_hash: string;
  scopes: string[];
  expires_at: NullableTimestamp;
  last_used_at: NullableTimestamp;
  revoked_at: NullableTimestamp;
  created_at: Timestamp;
}

export interface AuthTokenTable {
  id: string;
  kind: 'password-reset' | 'mfa-challenge' | 'setup';
  user_id: string | null;
  token_hash: string;
  expires_at: Timestamp;
  used_at: NullableTimestamp;
  attempts: Generated<number>;
  created_at: Timestamp;
}

export interface MfaRecoveryCodeTable {
  id: string;
  user_id: string;
  code_hash: string;
  used_at: NullableTimestamp;
  created_at: Timestamp;
}

export interface LoginThrottleTable {
  key: string;
  failures: number;
  last_failure_at: Timestamp;
  locked_until: NullableTimestamp;
}

export interface ProjectTable {
  id: string;
  name: string;
  description: Generated<string>;
  created_by: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
  deleted_at: NullableTimestamp;
}

export interface ProjectMemberTable {
  project_id: string;
  user_id: string;
  role: 'viewer' | 'editor' | 'owner';
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface AuditLogTable {
  id: string;
  at: Timestamp;
  actor_user_id: string | null;
  actor_via: 'session' | 'api-key' | 'system' | 'anonymous';
  credential_id: string | null;
  action: string;
  entity_type: string;
  entity_id: string | null;
  project_id: string | null;
  request_id: string | null;
  ip: string | null;
  /** Written as a JSON string, read back as an object. */
  summary: ColumnType<Record<string, unknown>, string | undefined, never>;
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
  app_user: AppUserTable;
  user_session: UserSessionTable;
  api_key: ApiKeyTable;
  auth_token: AuthTokenTable;
  mfa_recovery_code: MfaRecoveryCodeTable;
  login_throttle: LoginThrottleTable;
  project: ProjectTable;
  project_member: ProjectMemberTable;
  audit_log: AuditLogTable;
  dataset: DatasetTable;
  dataset_column: DatasetColumnTable;
  dataset_import: DatasetImportTable;
}
