import type { DB } from './db-schema.ts';

/**
 * Every column that holds a value sealed by the secret box (src/platform/crypto.ts), each
 * bound to `secretContext(table, column, row id)`. `braincells secrets rotate` re-encrypts
 * exactly these: a feature that stores a secret adds its column here in the same commit.
 */
export interface EncryptedColumn {
  table: keyof DB & string;
  /** The row's primary key column (one column, text or uuid). */
  idColumn: string;
  column: string;
}

export const ENCRYPTED_COLUMNS: readonly EncryptedColumn[] = [
  { table: 'app_user', idColumn: 'id', column: 'mfa_secret' },
  { table: 'app_user', idColumn: 'id', column: 'mfa_pending_secret' },
  { table: 'llm_provider', idColumn: 'id', column: 'api_key' },
  { table: 'hub_token', idColumn: 'project_id', column: 'token' },
];
