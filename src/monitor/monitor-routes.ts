import multipart from '@fastify/multipart';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Actor } from '../access/actor.ts';
import { AppError } from '../platform/app-error.ts';
import { routeTable } from '../platform/http/route-definition.ts';
import {
  installMonitorForwarding,
  installRepriceHandOff,
  type MonitorForwarding,
} from './monitor-forwarding.ts';
import { MONITOR_FILE_MAX_BYTES } from './monitor-import.ts';
import {
  isoOrNull,
  presentAgentNode,
  presentBlockRow,
  presentBreakdownRow,
  presentBudgetBurn,
  presentDayRow,
  presentExchange,
  presentModelRow,
  presentOwnCallRow,
  presentSessionListItem,
  presentStep,
} from './monitor-presenter.ts';
import {
  blockView,
  breakdownQuerySchema,
  breakdownView,
  budgetBurnView,
  dailyQuerySchema,
  dailyView,
  exchangeView,
  fileListView,
  importBodySchema,
  importResultView,
  modelView,
  ownCallsQuerySchema,
  ownCallsView,
  reportQuerySchema,
  SOURCE_OPTIONS,
  sessionDetailView,
  sessionListView,
  sessionParams,
  toolView,
  watchBodySchema,
  watchView,
} from './monitor-schema.ts';
import type { MonitorService, ReportOptions } from './monitor-service.ts';

const projectParams = z.object({ projectId: z.uuid() });
const since = (value: string | undefined) => (value === undefined ? undefined : new Date(value));

/**
 * Monitor: import coding-agent logs (Claude Code, OpenCode) into a project and read usage,
 * cost and agent traces back. Validate → service (access check first) → presenter.
 */
export const monitorRoutes: FastifyPluginAsyncZod<{
  monitor: MonitorService;
  /** Shared deployments: requests for a project another server holds go there. */
  forwarding?: MonitorForwarding;
}> = async (app, options) => {
  const { monitor } = options;
  if (options.forwarding) {
    installMonitorForwarding(app as never, monitor.holderElsewhere, options.forwarding);
    // A `monitor.reprice` job another server picked up is done here when this server holds
    // the project's file (monitor-forwarding.ts repriceOnHolder).
    if (options.forwarding.key)
      installRepriceHandOff(app as never, {
        key: options.forwarding.key,
        reprice: (projectId, request) => monitor.repriceHere(projectId, request),
      });
  }
  const route = routeTable(app, ['monitor']);
  const base = '/api/projects/:projectId/monitor';

  /**
   * A report that reads only `since` and answers its rows as `items`, each through `present`
   * when the report's rows are not already what the answer lists.
   */
  function sinceReport<Row>(
    path: string,
    text: { summary: string; description?: string },
    response: z.ZodType<unknown, { items: unknown[] }>,
    report: (actor: Actor, projectId: string, options: ReportOptions) => Promise<Row[]>,
    present: (row: Row) => unknown = (row) => row,
  ) {
    route.get(
      `${base}/${path}`,
      { ...text, params: projectParams, query: reportQuerySchema, response },
      async (request) => {
        const filter = { since: since(request.query.since) };
        const rows = await report(request.actor, request.params.projectId, filter);
        return { items: rows.map(present) };
      },
    );
  }

  /**
   * A report by one query value besides `since` (the daily report's `timezone`, the breakdown's
   * `by`), answered with that value and its rows as `items`.
   */
  function keyedReport<Key extends string, Value extends string, Row>(
    path: string,
    text: { summary: string; description?: string },
    query: z.ZodType<{ since?: string | undefined } & Record<Key, Value>>,
    key: Key,
    response: z.ZodType<unknown, { items: unknown[] }>,
    report: (
      actor: Actor,
      projectId: string,
      value: Value,
      options: ReportOptions,
    ) => Promise<Row[]>,
    present: (row: Row) => unknown,
  ) {
    route.get(
      `${base}/${path}`,
      { ...text, params: projectParams, query, response },
      async (request) => {
        // Validated by `query`; fastify's request type cannot be read through the generic.
        const validated = request.query as { since?: string } & Record<Key, Value>;
        const value = validated[key];
        const filter = { since: since(validated.since) };
        const rows = await report(request.actor, request.params.projectId, value, filter);
        return { [key]: value, items: rows.map(present) };
      },
    );
  }

  await app.register(multipart, {
    // File names carry the log tree's folders (`<session>/subagents/agent-x.jsonl`); they are
    // checked segment by segment before anything is written (monitor-uploads.ts).
    preservePath: true,
    limits: { fileSize: MONITOR_FILE_MAX_BYTES, files: 20_000, fields: 0, parts: 20_000 },
  });

  route.post(
    `${base}/uploads`,
    {
      summary: 'Import uploaded coding-agent log files (editor)',
      description:
        'multipart/form-data with any number of file parts; each file name is its relative path in the log tree (`-home-dev-app/<session>.jsonl`, `<session>/subagents/agent-<id>.jsonl`, `storage/part/<msg>/<part>.json`, `opencode.db`), so the importer can tell what it is. Names with `..`, absolute paths, backslashes or control characters answer 400 naming the file; nothing is imported then. A part named `*.zip`, `*.tar`, `*.tar.gz` or `*.tgz` is an archive of such a tree (e.g. a zipped `~/.claude/projects`): its entries are checked like file names, links and special files answer 400 naming the part, and more than 1 GiB unpacked (or an entry over the file limit) answers 413. Uploading the same logs again changes no total.',
      params: projectParams,
      query: z.object({ source: z.enum(SOURCE_OPTIONS).default('auto') }).strict(),
      response: importResultView,
    },
    async (request) => {
      if (!request.isMultipart()) {
        throw new AppError('UNSUPPORTED_MEDIA_TYPE', 'Send the files as multipart/form-data');
      }
      return monitor.importUpload(request.actor, request.params.projectId, {
        files: request.files(),
        source: request.query.source,
        maxBytes: MONITOR_FILE_MAX_BYTES,
      });
    },
  );

  route.post(
    `${base}/imports`,
    {
      summary: 'Import coding-agent logs from a server folder (editor)',
      description:
        'Reads a Claude Code `projects` folder or transcript, or an OpenCode data folder (`opencode.db`, `storage/`), under one of the folders in BRAINCELLS_MONITOR_ROOTS; any other path answers 403 naming that setting. Files unchanged since their last import are skipped, so importing again changes no total. Bad lines are counted per file (see /files), never fatal.',
      params: projectParams,
      body: importBodySchema,
      response: importResultView,
    },
    async (request) =>
      monitor.importServerPath(request.actor, request.params.projectId, request.body),
  );

  sinceReport(
    'sessions',
    {
      summary: 'Sessions and sub-agents with their own tokens and cost (viewer)',
      description:
        'One item per session and one per sub-agent; a session counts its own usage, not its sub-agents’ (the session detail rolls them up). costUsd is null when no event has a known price; unpricedEvents says how many are left out.',
    },
    sessionListView,
    monitor.sessionReport,
    presentSessionListItem,
  );

  route.get(
    `${base}/sessions/:sessionKey`,
    {
      summary: 'One session: its agent tree with rolled-up usage, and its parts (viewer)',
      params: sessionParams,
      response: sessionDetailView,
    },
    async (request) => {
      const detail = await monitor.sessionDetail(
        request.actor,
        request.params.projectId,
        request.params.sessionKey,
      );
      return {
        session: presentSessionListItem(detail.session),
        tree: presentAgentNode(detail.tree),
        parts: detail.parts.map((part) => ({ ...part, createdAt: isoOrNull(part.createdAt) })),
        steps: detail.steps.map(presentStep),
      };
    },
  );

  route.get(
    `${base}/sessions/:sessionKey/exchanges`,
    {
      summary: "A session's exchanges: each user turn and what followed it (viewer)",
      description:
        'One item per user turn (a user message with text; tool results are not turns), in time order: the prompt and the last reply text (each cut to 500 characters), the tool calls and the model calls (counted once, `usageEvents`) dated from the turn until the next one, with their tokens and cost. Messages without a time, and calls before the first turn, are in no exchange. At most 1,000.',
      params: sessionParams,
      response: exchangeView,
    },
    async (request) => ({
      items: (
        await monitor.sessionExchanges(
          request.actor,
          request.params.projectId,
          request.params.sessionKey,
        )
      ).map(presentExchange),
    }),
  );

  keyedReport(
    'daily',
    {
      summary: 'Usage per day in a time zone (viewer)',
      description:
        'Days are calendar days in `timezone` (IANA, default UTC), every token bucket counted.',
    },
    dailyQuerySchema,
    'timezone',
    dailyView,
    monitor.dayReport,
    presentDayRow,
  );

  sinceReport(
    'blocks',
    {
      summary: '5-hour usage blocks with burn rate and projection (viewer)',
      description:
        'A block starts at the hour of the first call after the previous block ended and lasts 5 hours. burnTokensPerMinute: all buckets per minute between its first and last call; the open block is projected to its end at that rate.',
    },
    blockView,
    monitor.blockReport,
    presentBlockRow,
  );

  sinceReport(
    'models',
    { summary: 'Usage per source, provider and model (viewer)' },
    modelView,
    monitor.modelReport,
    presentModelRow,
  );

  keyedReport(
    'breakdown',
    {
      summary: 'Usage per provider, project or git branch (viewer)',
      description:
        "project: the session's working directory; branch: the first git branch its lines name (Claude Code; OpenCode records none). A sub-agent or child session without its own takes its parent's; a null key gathers usage whose session says nothing.",
    },
    breakdownQuerySchema,
    'by',
    breakdownView,
    monitor.breakdownReport,
    presentBreakdownRow,
  );

  route.get(
    `${base}/own-calls`,
    {
      summary: 'Our own LLM calls by feature, model or dataset (viewer)',
      description:
        'Reads the calls this project made through Brain Cells (sheet cells, chat, workflows; the `llm_calls` the LLM module records), not imported logs. calls: logical calls (first attempts and cache hits); attempts: requests sent to a provider; errorRate = errors ÷ attempts (errors and timeouts); cacheHitRate = cache hits ÷ calls; latency p50/p95 over provider attempts (cache hits left out); costUsd sums known costs, unpricedAttempts says how many are left out. `by=dataset` keys by dataset id (null: calls made for no dataset). At most 200 rows, the busiest first.',
      params: projectParams,
      query: ownCallsQuerySchema,
      response: ownCallsView,
    },
    async (request) => ({
      by: request.query.by,
      items: (
        await monitor.ownCallReport(request.actor, request.params.projectId, {
          by: request.query.by,
          since: since(request.query.since),
        })
      ).map(presentOwnCallRow),
    }),
  );

  route.get(
    `${base}/own-calls/budgets`,
    {
      summary: "The project's LLM budgets with their spend rate (viewer)",
      description:
        'The budgets of the project and of its users (the LLM module’s, `…/llm/budgets`; gateway keys’ budgets are listed with their keys), each with its spend in the current period (UTC; weeks from Monday), burnUsdPerHour: that spend per hour since the period began (null in its first minute), projectedUsd: the spend at the period’s end at that rate (null for `total`), exhaustsAt: when the hard limit is reached at that rate if within the period, usedShare: spent ÷ hard limit (or soft). asOf: the instant the rates are computed at.',
      params: projectParams,
      response: budgetBurnView,
    },
    async (request) => {
      const burn = await monitor.ownCallBudgets(request.actor, request.params.projectId);
      return { asOf: burn.asOf.toISOString(), items: burn.items.map(presentBudgetBurn) };
    },
  );

  sinceReport(
    'tools',
    {
      summary: 'Tool calls per tool name in the imported logs (viewer)',
      description:
        'calls, failures (status error) and failureRate, unfinished (no result yet), duration p50/p95 in ms over the calls whose times are known (timedCalls): OpenCode parts carry their start and end; a Claude Code call runs from its tool_use line to its tool_result line. topErrors: the 5 most frequent error texts (cut to 300 characters). A call seen in two files counts once; with `since`, calls are dated by their message.',
    },
    toolView,
    monitor.toolReport,
  );

  route.get(
    `${base}/watch`,
    {
      summary: "The project's server-side watch and its last cycle (viewer)",
      description:
        'enabled: servers watch the folder `path` (shown as the files list shows paths: the root folder’s name and the path inside it) and import what changes, as `braincells monitor watch` does. live: the watch is on and a cycle ran within the last 150 s (two reconciles); lastCycleAt: when the last cycle ended (on any server); lastImportAt: the last cycle that read or departed a file — a page polls this to refresh its reports. watchingHere: this server runs the watch now. lastError: the last cycle’s failure (failed files, a folder outside the roots), null after a clean one.',
      params: projectParams,
      response: watchView,
    },
    async (request) => monitor.getWatch(request.actor, request.params.projectId),
  );

  route.put(
    `${base}/watch`,
    {
      summary: "Switches the project's server-side watch on or off (editor)",
      description:
        'Switching on needs `path` (or the one saved before): an absolute folder inside BRAINCELLS_MONITOR_ROOTS; any other answers 403 naming that setting, a missing one 404. Each server runs one watch per project; the ingestion lease lets one import at a time. This server starts or stops at once, the others within a minute. Switching off keeps the folder.',
      params: projectParams,
      body: watchBodySchema,
      response: watchView,
    },
    async (request) => monitor.setWatch(request.actor, request.params.projectId, request.body),
  );

  route.get(
    `${base}/files`,
    {
      summary: 'Imported files with their status, attempts and bad lines (viewer)',
      params: projectParams,
      response: fileListView,
    },
    async (request) => ({
      items: (await monitor.files(request.actor, request.params.projectId)).map((file) => ({
        source: file.source,
        kind: file.kind,
        path: file.displayPath,
        size: file.size,
        status: file.status,
        error: file.error,
        attempts: file.attempts,
        records: file.records,
        badLines: file.badLines,
        badLineSamples: file.badLineSamples,
        indexedAt: new Date(file.indexedAt).toISOString(),
      })),
    }),
  );
};
