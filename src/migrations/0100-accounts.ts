import { type Kysely, sql } from 'kysely';
import { dropTables } from './migration-helpers.ts';

// Accounts and credentials. Every secret a client holds (session id, API key, reset or MFA
// challenge token, recovery code) is stored only as its SHA-256; passwords as scrypt hashes;
// the TOTP secret AES-256-GCM encrypted (src/platform/crypto.ts).
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table app_user (
      id uuid primary key,
      email text not null unique check (email = lower(email) and length(email) between 3 and 254),
      display_name text not null default '' check (length(display_name) <= 200),
      password_hash text not null,
      is_admin boolean not null default false,
      mfa_secret text,
      mfa_pending_secret text,
      mfa_enabled_at timestamptz,
      mfa_last_step bigint,
      disabled_at timestamptz,
      password_changed_at timestamptz not null default now(),
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      check ((mfa_enabled_at is null) = (mfa_secret is null))
    )
  `.execute(db);

  await sql`
    create table user_session (
      id uuid primary key,
      user_id uuid not null references app_user (id) on delete cascade,
      token_hash text not null unique,
      created_at timestamptz not null default now(),
      last_seen_at timestamptz not null default now(),
      expires_at timestamptz not null,
      revoked_at timestamptz,
      ip text check (length(ip) <= 100),
      user_agent text check (length(user_agent) <= 500),
      check (expires_at > created_at)
    )
  `.execute(db);
  await sql`create index user_session_user_idx on user_session (user_id, created_at desc)`.execute(
    db,
  );

  await sql`
    create table api_key (
      id uuid primary key,
      user_id uuid not null references app_user (id) on delete cascade,
      name text not null check (length(name) between 1 and 200),
      prefix text not null check (length(prefix) between 4 and 20),
      key_hash text not null unique,
      scopes text[] not null
        check (cardinality(scopes) between 1 and 3 and scopes <@ array['read', 'write', 'admin']),
      expires_at timestamptz,
      last_used_at timestamptz,
      revoked_at timestamptz,
      created_at timestamptz not null default now()
    )
  `.execute(db);
  await sql`create index api_key_user_idx on api_key (user_id, created_at desc)`.execute(db);

  // Single-use, expiring tokens: password reset, the MFA step of a sign-in, first-run setup.
  await sql`
    create table auth_token (
      id uuid primary key,
      kind text not null check (kind in ('password-reset', 'mfa-challenge', 'setup')),
      user_id uuid references app_user (id) on delete cascade,
      token_hash text not null unique,
      expires_at timestamptz not null,
      used_at timestamptz,
      attempts integer not null default 0 check (attempts >= 0),
      created_at timestamptz not null default now(),
      check ((kind = 'setup') = (user_id is null))
    )
  `.execute(db);
  await sql`create index auth_token_user_idx on auth_token (user_id, kind)`.execute(db);

  await sql`
    create table mfa_recovery_code (
      id uuid primary key,
      user_id uuid not null references app_user (id) on delete cascade,
      code_hash text not null unique,
      used_at timestamptz,
      created_at timestamptz not null default now()
    )
  `.execute(db);
  await sql`create index mfa_recovery_code_user_idx on mfa_recovery_code (user_id)`.execute(db);

  // Failed sign-ins per account ('account:<email>') and per IP ('ip:<address>'); shared by
  // every server through the database so a lockout holds across a cluster.
  await sql`
    create table login_throttle (
      key text primary key check (length(key) <= 400),
      failures integer not null default 0 check (failures >= 0),
      last_failure_at timestamptz not null,
      locked_until timestamptz
    )
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await dropTables(
    db,
    'login_throttle',
    'mfa_recovery_code',
    'auth_token',
    'api_key',
    'user_session',
    'app_user',
  );
}
