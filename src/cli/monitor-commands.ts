import type { Command } from 'commander';
import { systemActor } from '../auth/system-actor.ts';
import type { ImportProgress, SourceOption } from '../monitor/monitor-import.ts';
import {
  presentBlockRow,
  presentBreakdownRow,
  presentDayRow,
  presentExchange,
  presentImportCounts,
  presentModelRow,
  presentOwnCallRow,
  presentSessionRow,
} from '../monitor/monitor-presenter.ts';
import { SOURCE_OPTIONS } from '../monitor/monitor-schema.ts';
import type { MonitorService } from '../monitor/monitor-service.ts';
import { withFeatures } from './cli-features.ts';
import { CliError, EXIT, printJson, printTable } from './cli-output.ts';

/**
 * Opens the platform without job workers; the command does the work itself. With `ownCalls`
 * the LLM feature is opened too, so the monitor can read our own calls through it.
 */
function withMonitor<T>(
  work: (monitor: MonitorService) => Promise<T>,
  options: { ownCalls?: boolean } = {},
): Promise<T> {
  // The CLI reads any local path its user can: the roots limit only the API.
  return withFeatures((features) => work(features.monitor), {
    monitorRoots: [],
    monitorOwnCalls: options.ownCalls === true,
  });
}

function progressLine(out: NodeJS.WriteStream) {
  let last = 0;
  return (progress: ImportProgress) => {
    const width = 30;
    const share = progress.total === 0 ? 1 : progress.done / progress.total;
    const filled = Math.round(share * width);
    const line = `import [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${progress.done}/${progress.total} files`;
    if (out.isTTY) out.write(`\r${line}\u001b[K${progress.done === progress.total ? '\n' : ''}`);
    else if (progress.done === progress.total || progress.done - last >= 1_000) {
      last = progress.done;
      out.write(`${line}\n`);
    }
  };
}

function sourceOption(value: string): SourceOption {
  if (!(SOURCE_OPTIONS as readonly string[]).includes(value)) {
    throw new CliError('--source must be auto, claude-code or opencode', EXIT.usage);
  }
  return value as SourceOption;
}

/**
 * `monitor import` and `monitor watch`: a path, the project its usage belongs to, the log
 * format (`--source`, checked) and `--json`.
 */
function pathCommand(
  monitor: Command,
  name: string,
  texts: { description: string; path: string; json: string },
  action: (
    target: string,
    options: { project: string; source: SourceOption; json: boolean },
  ) => Promise<void>,
): void {
  monitor
    .command(name)
    .description(texts.description)
    .argument('<path>', texts.path)
    .requiredOption('--project <id>', 'project the usage belongs to')
    .option('--source <source>', `auto | claude-code | opencode`, 'auto')
    .option('--json', texts.json)
    .action(async (target: string, options: { project: string; source: string; json?: boolean }) =>
      action(target, {
        project: options.project,
        source: sourceOption(options.source),
        json: options.json === true,
      }),
    );
}

/** Files an import could not read, on stderr (they are retried next time). */
function writeFailed(failed: { path: string; error: string }[]): void {
  for (const file of failed) process.stderr.write(`failed: ${file.path}: ${file.error}\n`);
}

function parseSince(value: string | undefined): Date | undefined {
  if (value === undefined) return undefined;
  const date = new Date(/^\d{4}-\d{2}-\d{2}$/.test(value) ? `${value}T00:00:00Z` : value);
  if (!/^\d{4}-\d{2}-\d{2}/.test(value) || Number.isNaN(date.getTime())) {
    throw new CliError('--since must be a date (2026-01-10) or an ISO 8601 time', EXIT.usage);
  }
  return date;
}

/** The table columns of a report row's token buckets, cost and unpriced events. */
const USAGE_COLUMNS = [
  'input',
  'output',
  'reasoning',
  'cacheRead',
  'cacheWrite',
  'cost',
  'unpricedEvents',
] as const;

/** The narrower tables' usage columns (sessions, blocks): no reasoning or unpriced count. */
const SHORT_USAGE_COLUMNS = ['input', 'output', 'cacheRead', 'cacheWrite', 'cost'] as const;

const formatUsd = (usd: number | null) => (usd === null ? 'unknown' : `$${usd.toFixed(6)}`);

export function registerMonitorCommands(program: Command): void {
  const monitor = program
    .command('monitor')
    .description('Token and cost analytics over coding-agent logs (Claude Code, OpenCode)');

  pathCommand(
    monitor,
    'import',
    {
      description:
        'Import a Claude Code projects folder or transcript, or an OpenCode data folder (opencode.db, storage/); unchanged files are skipped',
      path: 'folder or file to import',
      json: 'print {"files","records","badLines","sessions","usageEvents"}',
    },
    async (target, options) => {
      const result = await withMonitor((service) =>
        service.importLocalPath(systemActor(), options.project, {
          path: target,
          source: options.source,
          onProgress: options.json ? undefined : progressLine(process.stderr),
        }),
      );
      // Files that failed or were refused are said on stderr; they are retried next time.
      writeFailed(result.failed);
      for (const refused of result.refused)
        process.stderr.write(`refused: ${refused.path}: ${refused.reason}\n`);
      if (options.json) {
        printJson(presentImportCounts(result));
        return;
      }
      process.stdout.write(
        `${result.files} files imported (${result.unchanged} unchanged): ${result.records} records, ${result.sessions} sessions, ${result.usageEvents} usage events, ${result.badLines} bad lines\n`,
      );
    },
  );

  pathCommand(
    monitor,
    'watch',
    {
      description:
        'Import a folder now, then again whenever a file under it changes (and every minute), until Ctrl-C',
      path: 'folder to watch',
      json: 'print one JSON line of counts per import cycle',
    },
    async (target, options) => {
      await withMonitor(async (service) => {
        const watch = await service.watchLocalPath(systemActor(), options.project, {
          path: target,
          source: options.source,
          onCycle: ({ reason, result }) => {
            writeFailed(result.failed);
            if (options.json) {
              process.stdout.write(
                `${JSON.stringify({ reason, ...presentImportCounts(result), departed: result.departed })}\n`,
              );
            } else if (reason === 'start' || result.files > 0 || result.departed > 0) {
              process.stdout.write(
                `${new Date().toISOString()} ${reason}: ${result.files} files, ${result.usageEvents} usage events, ${result.badLines} bad lines, ${result.departed} departed\n`,
              );
            }
          },
          onError: (error) =>
            process.stderr.write(
              `watch: ${error instanceof Error ? error.message : String(error)}\n`,
            ),
        });
        await new Promise<void>((resolve) => {
          process.once('SIGINT', resolve);
          process.once('SIGTERM', resolve);
        });
        await watch.close();
      });
    },
  );

  monitor
    .command('exchanges')
    .description(
      "A session's exchanges: each user turn with the tool and model calls, tokens, cost and last reply that followed it",
    )
    .argument(
      '<sessionKey>',
      'cc:<session>, cc:<session>:<agent> or oc:<session> (as reports show)',
    )
    .requiredOption('--project <id>', 'project the session belongs to')
    .option(
      '--json',
      'print {"rows":[…]} with the items of GET …/monitor/sessions/:sessionKey/exchanges',
    )
    .action(async (sessionKey: string, options: { project: string; json?: boolean }) => {
      const rows = (
        await withMonitor((service) =>
          service.sessionExchanges(systemActor(), options.project, sessionKey),
        )
      ).map(presentExchange);
      if (options.json) {
        printJson({ rows });
        return;
      }
      const cut = (text: string | null) =>
        text === null ? '' : text.replace(/\s+/g, ' ').slice(0, 40);
      printTable(
        rows.map((row) => ({
          ...row,
          ...row.tokens,
          prompt: cut(row.prompt),
          reply: cut(row.reply),
          tools: row.toolCalls,
          calls: row.usageEvents,
          cost: formatUsd(row.costUsd),
        })),
        [
          'index',
          'at',
          'prompt',
          'reply',
          'tools',
          'calls',
          'input',
          'output',
          'cacheRead',
          'cost',
        ],
      );
    });

  monitor
    .command('report')
    .description('Tokens and cost by session (and sub-agent), day or model')
    .requiredOption('--project <id>', 'project to report on')
    .option(
      '--by <group>',
      'session | day | model | provider | project | branch | block (5-hour usage blocks) | tools | own-calls (our own LLM calls)',
      'session',
    )
    .option('--group <key>', 'own-calls grouped by feature | model | dataset', 'feature')
    .option('--since <time>', 'only usage at or after this date or ISO time')
    .option('--timezone <zone>', 'IANA time zone of the days (--by day); default: this machine’s')
    .option('--json', 'print {"rows":[…]}')
    .action(
      async (options: {
        project: string;
        by: string;
        since?: string;
        timezone?: string;
        group: string;
        json?: boolean;
      }) => {
        const since = parseSince(options.since);
        const actor = systemActor();
        /** `{"rows":[…]}` with --json, else a table of `cells` of each row under `columns`. */
        const print = <Row>(
          rows: Row[],
          cells: (row: Row) => Record<string, unknown>,
          columns: string[],
          json: Record<string, unknown> = { rows },
        ) => {
          if (options.json) printJson(json);
          else printTable(rows.map(cells), columns);
        };
        /** A report row's token buckets and cost, as table cells. */
        const usage = (row: { tokens: Record<string, number>; costUsd: number | null }) => ({
          ...row.tokens,
          cost: formatUsd(row.costUsd),
        });
        if (options.by === 'session') {
          const rows = (
            await withMonitor((service) => service.sessionReport(actor, options.project, { since }))
          ).map(presentSessionRow);
          print(
            rows,
            (row) => ({
              session: row.sessionId,
              agent: row.agentId ?? '',
              type: row.agentType ?? '',
              ...usage(row),
              basis: row.costBasis,
            }),
            ['session', 'agent', 'type', ...SHORT_USAGE_COLUMNS, 'basis'],
          );
          return;
        }
        if (options.by === 'day') {
          let timeZone = options.timezone ?? Intl.DateTimeFormat().resolvedOptions().timeZone;
          const { checkTimeZone } = await import('../monitor/monitor-service.ts');
          try {
            timeZone = checkTimeZone(timeZone, '--timezone');
          } catch {
            throw new CliError(
              '--timezone must be an IANA time zone such as Europe/Paris',
              EXIT.usage,
            );
          }
          const rows = (
            await withMonitor((service) =>
              service.dayReport(actor, options.project, timeZone, { since }),
            )
          ).map(presentDayRow);
          print(rows, (row) => ({ ...row, ...usage(row) }), ['day', 'sessions', ...USAGE_COLUMNS]);
          return;
        }
        if (options.by === 'model') {
          const rows = (
            await withMonitor((service) => service.modelReport(actor, options.project, { since }))
          ).map(presentModelRow);
          print(rows, (row) => ({ ...row, ...usage(row) }), [
            'source',
            'provider',
            'model',
            ...USAGE_COLUMNS,
          ]);
          return;
        }
        if (options.by === 'provider' || options.by === 'project' || options.by === 'branch') {
          const by = options.by;
          const rows = (
            await withMonitor((service) =>
              service.breakdownReport(actor, options.project, by, { since }),
            )
          ).map(presentBreakdownRow);
          print(
            rows,
            (row) => ({ ...row, [by]: row.key ?? '', ...usage(row) }),
            [by, 'sessions', ...USAGE_COLUMNS],
            { by, rows },
          );
          return;
        }
        if (options.by === 'block') {
          const rows = (
            await withMonitor((service) => service.blockReport(actor, options.project, { since }))
          ).map(presentBlockRow);
          print(
            rows,
            (row) => ({
              ...row,
              ...usage(row),
              burn: row.burnTokensPerMinute,
              projected: row.projectedTokens,
            }),
            ['start', 'active', ...SHORT_USAGE_COLUMNS, 'burn', 'projected'],
          );
          return;
        }
        if (options.by === 'tools') {
          const rows = await withMonitor((service) =>
            service.toolReport(actor, options.project, { since }),
          );
          print(
            rows,
            (row) => ({
              tool: row.toolName,
              calls: row.calls,
              failures: row.failures,
              unfinished: row.unfinished,
              p50Ms: row.durationP50Ms ?? '',
              p95Ms: row.durationP95Ms ?? '',
              topError: (row.topErrors[0]?.error ?? '').slice(0, 60),
            }),
            ['tool', 'calls', 'failures', 'unfinished', 'p50Ms', 'p95Ms', 'topError'],
          );
          return;
        }
        if (options.by === 'own-calls') {
          const group = options.group;
          if (group !== 'feature' && group !== 'model' && group !== 'dataset') {
            throw new CliError('--group must be feature, model or dataset', EXIT.usage);
          }
          const rows = (
            await withMonitor(
              (service) => service.ownCallReport(actor, options.project, { by: group, since }),
              { ownCalls: true },
            )
          ).map(presentOwnCallRow);
          print(
            rows,
            (row) => ({
              [group]: row.key ?? '',
              calls: row.calls,
              attempts: row.attempts,
              errorRate: row.errorRate ?? '',
              cacheHitRate: row.cacheHitRate ?? '',
              p50Ms: row.latencyP50Ms ?? '',
              p95Ms: row.latencyP95Ms ?? '',
              cost: formatUsd(row.costUsd),
            }),
            [group, 'calls', 'attempts', 'errorRate', 'cacheHitRate', 'p50Ms', 'p95Ms', 'cost'],
            { by: group, rows },
          );
          return;
        }
        throw new CliError(
          '--by must be session, day, model, provider, project, branch, block, tools or own-calls',
          EXIT.usage,
        );
      },
    );
}
