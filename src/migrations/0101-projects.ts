import { type Kysely, sql } from 'kysely';

// Projects own every domain object (other features' tables reference project(id)). A deleted
// project is kept with deleted_at set, so those rows stay consistent; access checks treat it
// as missing.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table project (
      id uuid primary key,
      name text not null check (length(name) between 1 and 200),
      description text not null default '' check (length(description) <= 2000),
      created_by uuid references app_user (id) on delete set null,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      deleted_at timestamptz
    )
  `.execute(db);

  await sql`
    create table project_member (
      project_id uuid not null references project (id) on delete cascade,
      user_id uuid not null references app_user (id) on delete cascade,
      role text not null check (role in ('viewer', 'editor', 'owner')),
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      primary key (project_id, user_id)
    )
  `.execute(db);
  await sql`create index project_member_user_idx on project_member (user_id)`.execute(db);

  // Invariant held by the database, not only the service: a live project always keeps an
  // owner. Checked when the statement ends, so swapping roles in one statement is fine.
  await sql`
    create function project_keeps_an_owner() returns trigger language plpgsql as $$
    begin
      if exists (select 1 from project p where p.id = old.project_id and p.deleted_at is null)
         and not exists (
           select 1 from project_member m where m.project_id = old.project_id and m.role = 'owner'
         ) then
        raise exception 'project % must keep an owner', old.project_id
          using errcode = 'check_violation', constraint = 'project_keeps_an_owner';
      end if;
      return null;
    end
    $$
  `.execute(db);
  await sql`
    create trigger project_member_keeps_an_owner
    after update or delete on project_member
    for each row execute function project_keeps_an_owner()
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table project_member`.execute(db);
  await sql`drop function project_keeps_an_owner()`.execute(db);
  await sql`drop table project`.execute(db);
}
