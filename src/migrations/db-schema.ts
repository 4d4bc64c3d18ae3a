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
export type NullableTimestamp = ColumnType<
  Date | null,
  Date | string | null | undefined,
  Date | string | null
>;

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
  type: 'text' | 'integer' | 'number' | 'boolean' | 'date' | 'timestamp' | 'json' | 'image';
  kind: Generated<'static' | 'formula' | 'ai'>;
  formula: string | null;
  position: number;
  hidden: Generated<boolean>;
  created_at: Generated<Timestamp>;
  updated_at: Generated<Timestamp>;
}

// — images (migration 0900) —
/** One stored image a project may read (its bytes live once per content in the blob store). */
export interface ImageBlobTable {
  project_id: string;
  sha256: string;
  media_type: string;
  bytes: ColumnType<string, number, never>;
  width: number;
  height: number;
  created_at: Generated<Timestamp>;
  /** Renewed each time the project stores the bytes again (migration 0911). */
  last_linked_at: Timestamp;
}

// — Hub publish (migration 0920) —
export interface HubTokenTable {
  project_id: string;
  /** Sealed by the secret box (encrypted-columns.ts), bound to the project id. */
  token: string;
  updated_by: string | null;
  updated_at: Generated<Timestamp>;
}

export interface HubPublishTable {
  id: string;
  project_id: string;
  dataset_id: string;
  repo_id: string;
  private: boolean;
  status: 'queued' | 'running' | 'done' | 'failed';
  error: string | null;
  commit_oid: string | null;
  commit_url: string | null;
  files_uploaded: Generated<number>;
  files_skipped: Generated<number>;
  attempts: Generated<number>;
  created_by: string | null;
  created_at: Generated<Timestamp>;
  updated_at: Generated<Timestamp>;
  finished_at: Timestamp | null;
  /** Renewed by the server running the publish (migration 1040). */
  heartbeat_at: Timestamp | null;
}

// — documents (migration 0650) —
export interface DocumentTable {
  id: string;
  project_id: string;
  dataset_id: string;
  row_id: string | null;
  name: string;
  kind: string | null;
  media_type: string;
  size: string | number;
  sha256: string;
  status: Generated<string>;
  message: string | null;
  pages: number | null;
  created_by: string | null;
  created_at: Generated<Timestamp>;
  updated_at: Generated<Timestamp>;
}

// — saved views (migration 0640) —
export interface DatasetViewTable {
  id: string;
  dataset_id: string;
  name: string;
  /** Written as a JSON string, read back as an object (see view-store.ts). */
  definition: ColumnType<unknown, string, string>;
  version: Generated<number>;
  created_by: string | null;
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
  /** [{ columnId, column, type, failed, failures: [{ rowId, raw }] }] (migration 0410). */
  conversions: Generated<unknown>;
  error: unknown;
  job_id: string | null;
  cancel_requested: Generated<boolean>;
  created_by: string | null;
  created_at: Generated<Timestamp>;
  started_at: Timestamp | null;
  finished_at: Timestamp | null;
  heartbeat_at: Timestamp | null;
}

// — LLM providers, usage, budgets, cache (migrations 0200–0203) —
// Timestamp columns with a default are plain `Timestamp`: its insert type already admits
// undefined, and Generated<Timestamp> would select as the ColumnType object, not a Date.
export interface LlmProviderTable {
  id: string;
  project_id: string | null;
  name: string;
  kind: 'openai' | 'anthropic' | 'huggingface' | 'openai-compatible';
  base_url: string | null;
  /** Sealed by the secret box (src/platform/crypto.ts), never the key itself. */
  api_key: string | null;
  api_key_hint: string | null;
  models: Generated<string[]>;
  fallbacks: Generated<unknown>;
  max_concurrency: Generated<number>;
  requests_per_minute: number | null;
  catalog_provider: string | null;
  enabled: Generated<boolean>;
  created_by: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface LlmPriceOverrideTable {
  id: string;
  project_id: string;
  model: string;
  input_nano_per_mtok: number;
  output_nano_per_mtok: number;
  cache_read_nano_per_mtok: number | null;
  cache_write_nano_per_mtok: number | null;
  valid_from: Timestamp;
  created_by: string | null;
  created_at: Timestamp;
}

export interface LlmCallsTable {
  id: string;
  call_id: string;
  created_at: Timestamp;
  project_id: string;
  user_id: string | null;
  feature: string;
  entity_ids: Generated<unknown>;
  provider_ref: string;
  provider_kind: string;
  model: string;
  attempt: number;
  status: 'ok' | 'error' | 'timeout' | 'aborted' | 'cache-hit';
  error_code: string | null;
  failure_kind: string | null;
  http_status: number | null;
  request_id: string | null;
  finish_reason: string | null;
  cache_status: 'hit' | 'miss' | 'bypass' | 'off' | null;
  uncached_input_tokens: number | null;
  cache_read_tokens: number | null;
  cache_write_tokens: number | null;
  output_tokens: number | null;
  reasoning_tokens: number | null;
  usage_estimated: Generated<boolean>;
  cost_nano: number | null;
  saved_nano: number | null;
  latency_ms: number;
  ttft_ms: number | null;
}

export interface LlmUsageDailyTable {
  day: string;
  project_id: string;
  provider_kind: string;
  model: string;
  feature: string;
  calls: Generated<number>;
  attempts: Generated<number>;
  errors: Generated<number>;
  cache_hits: Generated<number>;
  cache_misses: Generated<number>;
  uncached_input_tokens: Generated<number>;
  cache_read_tokens: Generated<number>;
  cache_write_tokens: Generated<number>;
  output_tokens: Generated<number>;
  reasoning_tokens: Generated<number>;
  cost_nano: Generated<number>;
  unpriced_attempts: Generated<number>;
  saved_nano: Generated<number>;
}

export interface LlmBudgetTable {
  id: string;
  project_id: string;
  user_id: string | null;
  /** Migration 0800: a gateway key's own budget. */
  gateway_key_id: Generated<string | null>;
  period: 'day' | 'week' | 'month' | 'total';
  hard_limit_nano: number | null;
  soft_limit_nano: number | null;
  created_by: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface LlmBudgetPeriodTable {
  budget_id: string;
  period_start: Timestamp;
  spent_nano: Generated<number>;
  reserved_nano: Generated<number>;
  soft_warned_at: Timestamp | null;
}

export interface LlmBudgetReservationTable {
  id: string;
  budget_id: string;
  period_start: Timestamp;
  amount_nano: number;
  expires_at: Timestamp;
}

export interface LlmCacheTable {
  project_id: string;
  key: string;
  provider_ref: string;
  model: string;
  response: unknown;
  cost_nano: number | null;
  created_at: Timestamp;
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
  dataset_view: DatasetViewTable;
  document: DocumentTable;
  image_blob: ImageBlobTable;
  hub_token: HubTokenTable;
  hub_publish: HubPublishTable;
  llm_provider: LlmProviderTable;
  llm_price_override: LlmPriceOverrideTable;
  llm_calls: LlmCallsTable;
  llm_usage_daily: LlmUsageDailyTable;
  llm_budget: LlmBudgetTable;
  llm_budget_period: LlmBudgetPeriodTable;
  llm_budget_reservation: LlmBudgetReservationTable;
  llm_cache: LlmCacheTable;
  generation_process: GenerationProcessTable;
  generation_run: GenerationRunTable;
  generation_run_cell: GenerationRunCellTable;
  generation_search_cache: GenerationSearchCacheTable;
  durable_run: DurableRunTable;
  run_step: RunStepTable;
  event_log: EventLogTable;
  staleness_pending: StalenessPendingTable;
  gateway_key: GatewayKeyTable;
  gateway_key_window: GatewayKeyWindowTable;
  dataset_lease: DatasetLeaseTable;
  server_presence: ServerPresenceTable;
}

// — Dataset ownership across servers (migration 0980, src/platform/datasets/) —
export interface DatasetLeaseTable {
  dataset_id: string;
  /** The holding server's id (stable per data dir). */
  owner_id: string;
  /** Where other servers forward the dataset's requests (BRAINCELLS_INTERNAL_URL). */
  owner_url: string | null;
  /** The fencing token: grows by one on every claim. */
  token: number;
  expires_at: Timestamp;
  renewed_at: Timestamp;
}

// — Servers that may hold datasets (migration 1120, src/platform/datasets/dataset-servers.ts) —
export interface ServerPresenceTable {
  /** The server's id (the same as its dataset leases' owner_id). */
  server_id: string;
  /** BRAINCELLS_ROLE: `all` or `worker` (an `api` server keeps no row). */
  role: string;
  /** BRAINCELLS_INTERNAL_URL; null: the server cannot be forwarded to. */
  url: string | null;
  expires_at: Timestamp;
  heartbeat_at: Timestamp;
}

// — The OpenAI/Anthropic-compatible gateway's keys and rate windows (migration 0800) —
export interface GatewayKeyTable {
  id: string;
  project_id: string;
  name: string;
  prefix: string;
  key_hash: string;
  /** `GatewayModel[]` (src/gateway/gateway-schema.ts). */
  models: unknown;
  requests_per_minute: number | null;
  tokens_per_minute: number | null;
  cache: boolean;
  created_by: string | null;
  created_at: Timestamp;
  revoked_at: NullableTimestamp;
  last_used_at: NullableTimestamp;
}

export interface GatewayKeyWindowTable {
  key_id: string;
  window_start: Timestamp;
  requests: number;
  tokens: number;
}

// — AI columns: generation processes, runs, search cache (migration 0400) —
export interface GenerationProcessTable {
  id: string;
  project_id: string;
  dataset_id: string;
  column_id: string;
  version: Generated<number>;
  /** The template with references stored as `{{#<column id>}}`. */
  prompt: string;
  instructions: Generated<string>;
  provider: string | null;
  model: string;
  parameters: unknown;
  output_type: 'text' | 'number' | 'boolean' | 'category' | 'json' | 'image';
  categories: unknown;
  json_schema: unknown;
  /** `WIDTHxHEIGHT` of an image column's images (migration 0910); null: provider default. */
  image_size: Generated<string | null>;
  search: unknown;
  input_column_ids: string[];
  prompt_hash: string;
  created_by: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface GenerationRunTable {
  id: string;
  project_id: string;
  dataset_id: string;
  column_id: string | null;
  kind: Generated<'column' | 'rows'>;
  mode: 'all' | 'empty' | 'range' | 'errors' | 'stale' | 'outdated' | 'cells' | 'rows';
  scope: unknown;
  status:
    | 'awaiting-confirmation'
    | 'queued'
    | 'running'
    | 'paused'
    | 'cancelled'
    | 'completed'
    | 'failed';
  pause_reason: 'user' | 'budget' | null;
  process_version: number | null;
  estimate: unknown;
  total: Generated<number>;
  done: Generated<number>;
  errors: Generated<number>;
  conflicts: Generated<number>;
  cache_hits: Generated<number>;
  search_failures: Generated<number>;
  duplicates: Generated<number>;
  /** int8 columns read as JS numbers (src/platform/db/database.ts). */
  input_tokens: Generated<number>;
  output_tokens: Generated<number>;
  cost_nano: Generated<number>;
  active_ms: Generated<number>;
  max_row_id: number | null;
  error: unknown;
  /** While a rate-limited run waits to resume: { reason, until, provider, providerName, message } (0470). */
  waiting: unknown;
  parent_run_id: string | null;
  /** The durable run executing it (same id; migration 0610): lease, heartbeat, cancel/pause flags. */
  durable_run_id: string | null;
  created_by: string | null;
  created_at: Timestamp;
  started_at: NullableTimestamp;
  finished_at: NullableTimestamp;
  updated_at: Timestamp;
}

export interface GenerationRunCellTable {
  run_id: string;
  row_id: number;
}

export interface GenerationSearchCacheTable {
  key: string;
  provider: string;
  results: unknown;
  created_at: Timestamp;
}

// — the durable-run engine (migration 0600, src/platform/jobs/durable-run.ts) —

export type DurableRunStatus =
  | 'queued'
  | 'running'
  | 'paused'
  | 'completed'
  | 'failed'
  | 'cancelled';

export interface DurableRunTable {
  id: string;
  kind: string;
  project_id: string | null;
  status: Generated<DurableRunStatus>;
  input: unknown;
  progress: Generated<unknown>;
  result: unknown;
  error: unknown;
  pause_reason: string | null;
  cancel_requested: Generated<boolean>;
  pause_requested: Generated<boolean>;
  lease_owner: string | null;
  lease_expires_at: NullableTimestamp;
  executions: Generated<number>;
  created_at: Timestamp;
  updated_at: Timestamp;
  started_at: NullableTimestamp;
  finished_at: NullableTimestamp;
}

export interface RunStepTable {
  run_id: string;
  step_key: string;
  status: 'running' | 'completed' | 'failed';
  attempts: Generated<number>;
  input_hash: string | null;
  output: unknown;
  error: unknown;
  started_at: Timestamp;
  finished_at: NullableTimestamp;
}

// — The event bus's durable log (migration 0620) —
export interface EventLogTable {
  stream: string;
  id: number;
  type: string;
  /** The event's data as JSON text. */
  data: string;
  coalesce_key: string | null;
  created_at: Generated<Date>;
}

// — Staleness checks not yet done (migration 0621) —
export interface StalenessPendingTable {
  id: string;
  project_id: string;
  dataset_id: string;
  /** JSON arrays: written as JSON text, read back as arrays. */
  column_ids: ColumnType<string[], string, never>;
  row_ids: ColumnType<string[], string, never>;
  created_at: Generated<Date>;
}
