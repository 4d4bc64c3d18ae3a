import type { Command } from 'commander';
import { withDatabase } from './cli-features.ts';
import { CliError, EXIT, printJson, printTable } from './cli-output.ts';

/** The migrator (and every migration) is loaded when a db command runs, not for `--help`. */
const migrator = () => import('../platform/db/migrator.ts');

export function registerDbCommands(program: Command): void {
  const db = program.command('db').description('Database migrations');

  db.command('migrate')
    .description('Apply every pending migration')
    .option('--json', 'print the applied migrations as JSON')
    .action(async (options: { json?: boolean }) => {
      const applied = await withDatabase(async (database) =>
        (await migrator()).migrateToLatest(database.db),
      );
      if (options.json) printJson({ applied });
      else if (applied.length === 0) console.log('Already up to date.');
      else for (const name of applied) console.log(`applied ${name}`);
    });

  db.command('rollback')
    .description('Undo the last migration (or --steps N, or --all)')
    .option('--steps <n>', 'number of migrations to undo', '1')
    .option('--all', 'undo every migration')
    .option('--json', 'print the undone migrations as JSON')
    .action(async (options: { steps: string; all?: boolean; json?: boolean }) => {
      const steps = Number(options.steps);
      if (!options.all && (!Number.isInteger(steps) || steps < 1)) {
        throw new CliError('--steps must be a positive whole number', EXIT.usage);
      }
      const undone = await withDatabase(async (database) =>
        (await migrator()).rollback(database.db, options.all ? 'all' : steps),
      );
      if (options.json) printJson({ rolledBack: undone });
      else if (undone.length === 0) console.log('Nothing to roll back.');
      else for (const name of undone) console.log(`rolled back ${name}`);
    });

  db.command('status')
    .description('List migrations and when each was applied')
    .option('--json', 'print as JSON')
    .action(async (options: { json?: boolean }) => {
      const status = await withDatabase(async (database) =>
        (await migrator()).migrationStatus(database.db),
      );
      if (options.json) {
        printJson(
          status.map((m) => ({ name: m.name, appliedAt: m.executedAt?.toISOString() ?? null })),
        );
      } else {
        printTable(
          status.map((m) => ({ migration: m.name, applied: m.executedAt ?? 'pending' })),
          ['migration', 'applied'],
        );
      }
    });
}
