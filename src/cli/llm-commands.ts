import type { Command } from 'commander';
import { systemActor } from '../auth/system-actor.ts';
import type { LlmModule } from '../llm/llm-module.ts';
import { isAppError } from '../platform/app-error.ts';
import { cliLogger, withDatabase } from './cli-features.ts';
import { CliError, EXIT, printJson, printTable } from './cli-output.ts';

/** Opens the database and the llm module for one command (the system actor passes every check). */
async function withLlm<T>(work: (module: LlmModule) => Promise<T>): Promise<T> {
  return withDatabase(async (database, config) => {
    const logger = cliLogger();
    const [{ createCoreFeatures }, { openTelemetry }] = await Promise.all([
      import('../features.ts'),
      import('../platform/telemetry.ts'),
    ]);
    const telemetry = await openTelemetry(config.telemetry, logger);
    try {
      const features = createCoreFeatures({ config, logger, database, telemetry });
      try {
        return await work(features.llm);
      } finally {
        await features.close();
      }
    } finally {
      await telemetry?.shutdown();
    }
  });
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** nano-USD as dollars for people: `$0.000123`; null (unknown price) as `unknown`. */
export function formatUsd(nano: number | null): string {
  if (nano === null) return 'unknown';
  const usd = nano / 1e9;
  return `$${usd >= 100 ? usd.toFixed(2) : usd.toFixed(6)}`;
}

/**
 * A provider named by id, `env:<kind>`, name, or kind (`openai-compatible`) when exactly one
 * connection visible there is of that kind; in the project, else instance-wide.
 */
export async function resolveProvider(
  module: Pick<LlmModule, 'registry'>,
  reference: string,
  projectId: string | undefined,
) {
  if (UUID.test(reference) || reference.startsWith('env:')) return reference;
  const connections = await module.registry.listConnections(projectId);
  const wanted = reference.toLowerCase();
  const named = connections.filter((c) => c.name.toLowerCase() === wanted);
  if (named.length > 1)
    throw new CliError(`several providers are named "${reference}"; use its id`, EXIT.usage);
  if (named.length === 1) return (named[0] as { id: string }).id;
  const ofKind = connections.filter((c) => c.kind === wanted);
  if (ofKind.length === 1) return (ofKind[0] as { id: string }).id;
  if (ofKind.length > 1)
    throw new CliError(
      `several ${reference} providers: ${ofKind.map((c) => `"${c.name}"`).join(', ')}; name one or use its id`,
      EXIT.usage,
    );
  throw new CliError(`no provider named "${reference}", nor of that kind`, EXIT.usage);
}

export function registerLlmCommands(program: Command): void {
  const llm = program.command('llm').description('LLM providers');

  llm
    .command('providers')
    .description(
      'List provider connections (instance-wide and environment; with --project, its own too)',
    )
    .option('--project <id>', 'include this project’s connections')
    .option('--json', 'print as JSON')
    .action(async (options: { project?: string; json?: boolean }) => {
      const providers = await withLlm((module) =>
        options.project
          ? module.admin.listProviders(systemActor(), options.project)
          : module.admin.listInstanceProviders(systemActor()),
      );
      if (options.json) printJson({ items: providers });
      else {
        printTable(
          providers.map((p) => ({
            id: p.id,
            name: p.name,
            kind: p.kind,
            scope: p.source,
            key: p.apiKey ?? '-',
            models: p.models.length === 0 ? 'any' : p.models.join(','),
            enabled: p.enabled,
          })),
          ['id', 'name', 'kind', 'scope', 'key', 'models', 'enabled'],
        );
      }
    });

  llm
    .command('test')
    .description(
      'Test a provider connection: key, reachability, model list, and a 1-token request (exit 1 on failure; with --json, see `ok`)',
    )
    .argument(
      '<provider>',
      'provider id, env:<kind> (e.g. env:openai), name, or kind (e.g. openai-compatible) when only one connection has it',
    )
    .option('--project <id>', 'the project the provider belongs to')
    .option(
      '--model <model>',
      'model to send the 1-token request to (default: its first enabled model)',
    )
    .option('--json', 'print the result as JSON')
    .action(
      async (provider: string, options: { project?: string; model?: string; json?: boolean }) => {
        const result = await withLlm(async (module) => {
          const id = await resolveProvider(module, provider, options.project);
          return module.admin.testProvider(
            systemActor(),
            options.project,
            id,
            options.model ? { model: options.model } : {},
          );
        });
        // With --json the answer is the document (`ok` says how it went): one JSON value, exit 0.
        if (options.json) {
          printJson(result);
          return;
        }
        if (result.ok) {
          const listed =
            result.models === undefined ? 'no model list' : `${result.models.length} models listed`;
          const checked = result.modelChecked ? `, ${result.modelChecked} answered` : '';
          process.stdout.write(`ok: ${listed}${checked} (${result.latencyMs} ms)\n`);
        } else {
          const error = result.error;
          process.stdout.write(
            `failed: ${error?.message ?? 'unknown error'} [${error?.code}${error?.httpStatus ? `, HTTP ${error.httpStatus}` : ''}]\n`,
          );
        }
        if (!result.ok) throw new CliError('the provider test failed', EXIT.failure);
      },
    );

  program
    .command('spend')
    .description('LLM spend of a project: total, or by day, model, feature or provider')
    .requiredOption('--project <id>', 'project id')
    .option('--since <when>', 'a number of days like 30d, or a date like 2026-11-01', '30d')
    .option('--until <date>', 'last day to include (YYYY-MM-DD)')
    .option('--by <dimensions>', 'day, model, feature and/or provider, comma-separated', 'model')
    .option('--json', 'print as JSON')
    .action(
      async (options: {
        project: string;
        since: string;
        until?: string;
        by: string;
        json?: boolean;
      }) => {
        let spend: Awaited<ReturnType<LlmModule['admin']['spend']>>;
        try {
          spend = await withLlm((module) =>
            module.admin.spend(systemActor(), options.project, {
              since: options.since,
              ...(options.until ? { until: options.until } : {}),
              ...(options.by ? { groupBy: options.by } : {}),
            }),
          );
        } catch (error) {
          if (isAppError(error) && error.code === 'VALIDATION_ERROR')
            throw new CliError(error.message, EXIT.usage);
          throw error;
        }
        if (options.json) {
          printJson(spend);
          return;
        }
        const keys = spend.groupBy.map((dimension) =>
          dimension === 'provider' ? 'providerKind' : dimension,
        );
        printTable(
          spend.rows.map((row) => ({
            ...Object.fromEntries(
              keys.map((key) => [key, (row as unknown as Record<string, unknown>)[key]]),
            ),
            calls: row.calls,
            errors: row.errors,
            'cache hits': row.cacheHits,
            // Attempts of unknown price are not $0: say so, beside what is known.
            cost:
              row.unpricedAttempts === 0
                ? formatUsd(row.costNano)
                : row.costNano === 0
                  ? 'unknown'
                  : `${formatUsd(row.costNano)} + unknown`,
            unpriced: row.unpricedAttempts,
            saved: formatUsd(row.savedNano),
          })),
          [...keys, 'calls', 'errors', 'cache hits', 'cost', 'unpriced', 'saved'],
        );
        const total = spend.total;
        process.stdout.write(
          `\ntotal since ${spend.since}: ${formatUsd(total.costNano)} over ${total.calls} calls` +
            `${total.unpricedAttempts > 0 ? ` (+${total.unpricedAttempts} attempts of unknown price)` : ''}` +
            `, ${formatUsd(total.savedNano)} saved by the cache\n`,
        );
      },
    );
}
