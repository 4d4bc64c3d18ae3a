import { type Kysely, sql } from 'kysely';
import { dropTables, projectOwnedRow } from './migration-helpers.ts';

// Publishing a dataset to the Hugging Face Hub (issue 18, docs/images.md "Publish to the Hub"):
// a project's own Hub token, sealed like provider keys (src/migrations/encrypted-columns.ts),
// and each publish as a row with its status, so a publish that failed midway is never shown
// as done and a retry resumes it.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table hub_token (
      project_id uuid primary key references project(id) on delete cascade,
      token text not null,
      updated_by uuid,
      updated_at timestamptz not null default now()
    )`.execute(db);
  await sql`
    create table hub_publish (
      ${projectOwnedRow},
      dataset_id uuid not null,
      repo_id text not null check (length(repo_id) <= 200),
      private boolean not null,
      status text not null check (status in ('queued', 'running', 'done', 'failed')),
      error text,
      commit_oid text,
      commit_url text,
      files_uploaded integer not null default 0,
      files_skipped integer not null default 0,
      attempts integer not null default 0,
      created_by uuid,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      finished_at timestamptz
    )`.execute(db);
  await sql`create index hub_publish_project_idx on hub_publish (project_id, created_at desc)`.execute(
    db,
  );
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await dropTables(db, 'hub_publish', 'hub_token');
}
