import type { Kysely } from 'kysely';
import { type MigrationResultSet, Migrator, NO_MIGRATIONS } from 'kysely/migration';
import { MIGRATIONS } from '../../migrations/index.ts';

// Migrations run before and across schema versions, so they see an untyped database.
// biome-ignore lint/suspicious/noExplicitAny: see above
type AnyKysely = Kysely<any>;
export interface MigrationStatus {
  name: string;
  executedAt: Date | undefined;
}

export function createMigrator(db: AnyKysely): Migrator {
  return new Migrator({
    db,
    provider: { getMigrations: async () => MIGRATIONS },
    migrationTableName: 'braincells_migration',
    migrationLockTableName: 'braincells_migration_lock',
  });
}

/** Throws the first failing migration's error (with its name) instead of returning it. */
function unwrap(result: MigrationResultSet): string[] {
  if (result.error) {
    const failed = result.results?.find((entry) => entry.status === 'Error');
    const error = new Error(
      `migration ${failed?.migrationName ?? '(unknown)'} failed: ${describe(result.error)}`,
      { cause: result.error },
    );
    throw error;
  }
  return (result.results ?? []).map((entry) => entry.migrationName);
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export async function migrateToLatest(db: AnyKysely): Promise<string[]> {
  return unwrap(await createMigrator(db).migrateToLatest());
}

/** Rolls back `steps` migrations (default 1); `'all'` returns to an empty schema. */
export async function rollback(db: AnyKysely, steps: number | 'all' = 1): Promise<string[]> {
  const migrator = createMigrator(db);
  if (steps === 'all') {
    return unwrap(await migrator.migrateTo(NO_MIGRATIONS));
  }
  const rolledBack: string[] = [];
  for (let step = 0; step < steps; step++) {
    const names = unwrap(await migrator.migrateDown());
    if (names.length === 0) break;
    rolledBack.push(...names);
  }
  return rolledBack;
}

export async function migrationStatus(db: AnyKysely): Promise<MigrationStatus[]> {
  const migrations = await createMigrator(db).getMigrations();
  return migrations.map((migration) => ({
    name: migration.name,
    executedAt: migration.executedAt,
  }));
}
