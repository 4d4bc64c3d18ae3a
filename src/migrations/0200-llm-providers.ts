import { type Kysely, sql } from 'kysely';
import { dropTables } from './migration-helpers.ts';

// LLM provider connections, per project or (project_id null) instance-wide, and per-project
// price overrides. The API key is stored only sealed by the secret box (src/platform/crypto.ts,
// bound to `llm_provider.api_key:<id>`); `api_key_hint` is the masked form the UI shows.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table llm_provider (
      id uuid primary key,
      project_id uuid references project (id) on delete cascade,
      name text not null check (length(name) between 1 and 200),
      kind text not null check (kind in ('openai', 'anthropic', 'huggingface', 'openai-compatible')),
      base_url text check (length(base_url) <= 2000),
      api_key text,
      api_key_hint text check (length(api_key_hint) <= 40),
      models text[] not null default '{}',
      fallbacks jsonb not null default '{}'::jsonb,
      max_concurrency integer not null default 16 check (max_concurrency between 1 and 1000),
      requests_per_minute integer check (requests_per_minute between 1 and 1000000),
      catalog_provider text check (length(catalog_provider) <= 100),
      enabled boolean not null default true,
      created_by uuid,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      check ((api_key is null) = (api_key_hint is null)),
      check (kind <> 'openai-compatible' or base_url is not null)
    )
  `.execute(db);
  // Names are unique per project, and among instance-wide connections.
  await sql`
    create unique index llm_provider_name_idx on llm_provider
      (coalesce(project_id, '00000000-0000-0000-0000-000000000000'::uuid), lower(name))
  `.execute(db);

  await sql`
    create table llm_price_override (
      id uuid primary key,
      project_id uuid not null references project (id) on delete cascade,
      model text not null check (length(model) between 1 and 200),
      input_nano_per_mtok bigint not null check (input_nano_per_mtok >= 0),
      output_nano_per_mtok bigint not null check (output_nano_per_mtok >= 0),
      cache_read_nano_per_mtok bigint check (cache_read_nano_per_mtok >= 0),
      cache_write_nano_per_mtok bigint check (cache_write_nano_per_mtok >= 0),
      valid_from timestamptz not null default now(),
      created_by uuid,
      created_at timestamptz not null default now(),
      unique (project_id, model, valid_from)
    )
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await dropTables(db, 'llm_price_override', 'llm_provider');
}
