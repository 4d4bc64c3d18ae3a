import type { Command } from 'commander';
import { z } from 'zod';
import { systemActor } from '../auth/system-actor.ts';
import { isAppError } from '../platform/app-error.ts';
import { parseOrExit } from './auth-commands.ts';
import { withFeatures } from './cli-features.ts';
import { CliError, EXIT, printJson, printTable } from './cli-output.ts';
import { resolveProvider } from './llm-commands.ts';

const projectId = z.uuid({ message: 'must be a project id (a UUID)' });
const positiveInt = z.coerce.number().int().positive();
const usd = z.coerce.number().positive().max(1_000_000);

/**
 * `--model [alias=]<provider>/<model>`: the provider part is a connection id, name or kind
 * (as `braincells llm test`), the rest the model (which may hold further slashes).
 */
export function parseModelOption(spec: string): {
  name: string | undefined;
  provider: string;
  model: string;
} {
  const equals = spec.indexOf('=');
  const name = equals > 0 ? spec.slice(0, equals) : undefined;
  const target = equals > 0 ? spec.slice(equals + 1) : spec;
  const slash = target.indexOf('/');
  if (slash <= 0 || slash === target.length - 1)
    throw new CliError(
      `--model ${spec}: expected [alias=]<provider>/<model>, e.g. fast=openai/gpt-4o-mini`,
      EXIT.usage,
    );
  return { name, provider: target.slice(0, slash), model: target.slice(slash + 1) };
}

/** A service refusal (bad field, unknown project or key) as a usage error naming it. */
async function asCliError<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (error) {
    if (isAppError(error) && error.status < 500) throw new CliError(error.message, EXIT.usage);
    throw error;
  }
}

interface CreateOptions {
  project: string;
  name: string;
  model: string[];
  rpm?: string;
  tpm?: string;
  dailyBudgetUsd?: string;
  cache?: boolean;
  json?: boolean;
}

/**
 * `braincells gateway key create|list|revoke --project P`: gateway keys without the web UI,
 * through the gateway service as the system actor (docs/gateway.md). The secret is printed
 * once, at creation.
 */
export function registerGatewayCommands(program: Command): void {
  const key = program
    .command('gateway')
    .description('The OpenAI/Anthropic-compatible gateway')
    .command('key')
    .description('Gateway keys of a project');

  key
    .command('create')
    .description('Create a gateway key; its secret is printed once')
    .requiredOption('--project <id>', 'the project the key belongs to')
    .requiredOption('--name <name>', 'what the key is for')
    .option(
      '--model <[alias=]provider/model>',
      'a model the key may use (repeat the option for more)',
      (value: string, previous: string[]) => [...previous, value],
      [] as string[],
    )
    .option('--rpm <n>', 'requests per minute')
    .option('--tpm <n>', 'tokens per minute')
    .option('--daily-budget-usd <usd>', 'hard daily budget in USD')
    .option('--cache', 'answer repeated identical requests from the project cache')
    .option('--json', 'print the key as JSON')
    .action(async (options: CreateOptions) => {
      const project = parseOrExit(projectId, options.project, '--project');
      if (options.model.length === 0)
        throw new CliError('--model: give at least one model the key may use', EXIT.usage);
      const specs = options.model.map(parseModelOption);
      const limits = {
        requestsPerMinute:
          options.rpm === undefined ? undefined : parseOrExit(positiveInt, options.rpm, '--rpm'),
        tokensPerMinute:
          options.tpm === undefined ? undefined : parseOrExit(positiveInt, options.tpm, '--tpm'),
        budgets:
          options.dailyBudgetUsd === undefined
            ? undefined
            : [
                {
                  period: 'day',
                  hardLimitNano: Math.round(
                    parseOrExit(usd, options.dailyBudgetUsd, '--daily-budget-usd') * 1e9,
                  ),
                },
              ],
      };
      const created = await withFeatures(async (features) => {
        const models = [];
        for (const spec of specs)
          models.push({
            ...(spec.name === undefined ? {} : { name: spec.name }),
            provider: await resolveProvider(features.llm, spec.provider, project),
            model: spec.model,
          });
        return asCliError(
          features.gateway.service.createKey(systemActor(), project, {
            name: options.name,
            models,
            ...limits,
            cache: options.cache === true,
          }),
        );
      });
      if (options.json) printJson(created);
      else
        process.stdout.write(
          `Created gateway key ${created.name} (${created.id}) for ${created.models
            .map((model) => model.name)
            .join(', ')}\n${created.key}\nThe key is shown only this once.\n`,
        );
    });

  key
    .command('list')
    .description("List a project's gateway keys (never their secrets)")
    .requiredOption('--project <id>', 'the project')
    .option('--json', 'print as JSON')
    .action(async (options: { project: string; json?: boolean }) => {
      const project = parseOrExit(projectId, options.project, '--project');
      const items = await withFeatures((features) =>
        asCliError(features.gateway.service.listKeys(systemActor(), project)),
      );
      if (options.json) printJson({ items });
      else
        printTable(
          items.map((item) => ({
            id: item.id,
            name: item.name,
            prefix: item.prefix,
            models: item.models.map((model) => model.name).join(','),
            revoked: item.revokedAt ?? '-',
            lastUsed: item.lastUsedAt ?? '-',
          })),
          ['id', 'name', 'prefix', 'models', 'revoked', 'lastUsed'],
        );
    });

  key
    .command('revoke')
    .description('Revoke a gateway key: calls with it are refused from then on')
    .argument('<keyId>', 'the key id (from `list`)')
    .requiredOption('--project <id>', 'the project')
    .option('--json', 'print the outcome as JSON')
    .action(async (keyId: string, options: { project: string; json?: boolean }) => {
      const project = parseOrExit(projectId, options.project, '--project');
      const id = parseOrExit(z.uuid({ message: 'must be a key id (a UUID)' }), keyId, 'keyId');
      await withFeatures((features) =>
        asCliError(features.gateway.service.revokeKey(systemActor(), project, id)),
      );
      if (options.json) printJson({ id, revoked: true });
      else process.stdout.write(`Revoked gateway key ${id}\n`);
    });
}
