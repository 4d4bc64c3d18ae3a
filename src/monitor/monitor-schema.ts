import { z } from 'zod';

/** Inputs and outputs of the monitor's routes (zod: validation and the OpenAPI description). */

// biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
const noControl = /^[^\u0000-\u001f\u007f]*$/;

/** A path on the server, checked against BRAINCELLS_MONITOR_ROOTS by the service. */
const serverPath = z.string().min(1).max(4_096).regex(noControl, 'no control characters');

export const SOURCE_OPTIONS = ['auto', 'claude-code', 'opencode'] as const;

export const importBodySchema = z
  .object({
    path: serverPath.describe(
      'An absolute server path inside BRAINCELLS_MONITOR_ROOTS (a folder or one file)',
    ),
    source: z.enum(SOURCE_OPTIONS).default('auto'),
  })
  .strict();

export const sinceSchema = z.iso
  .datetime({ offset: true })
  .optional()
  .describe('Only usage at or after this instant (ISO 8601)');

export const reportQuerySchema = z.object({ since: sinceSchema }).strict();

export const dailyQuerySchema = z
  .object({
    since: sinceSchema,
    timezone: z
      .string()
      .min(1)
      .max(64)
      .regex(/^[A-Za-z0-9_+\-/]+$/, 'an IANA time zone such as Europe/Paris')
      .default('UTC')
      .describe('IANA time zone the days are counted in'),
  })
  .strict();

export const sessionParams = z.object({
  projectId: z.uuid(),
  sessionKey: z
    .string()
    .min(3)
    .max(400)
    .regex(/^(cc|oc):/, 'a session key such as cc:<session id>')
    .regex(noControl, 'no control characters'),
});

const tokens = z.object({
  input: z.number().int(),
  output: z.number().int(),
  reasoning: z.number().int(),
  cacheRead: z.number().int(),
  cacheWrite: z.number().int().describe('All cache writes, 5-minute and 1-hour'),
});

const costBasis = z
  .enum(['reported', 'computed', 'mixed', 'partial', 'unpriced'])
  .nullable()
  .describe(
    'reported: from the logs; computed: from the price catalog; mixed: both; partial: some events of unknown price are not in costUsd; unpriced: none known (costUsd null); null: no usage',
  );

/** Calls, token buckets and cost: the fields every usage report row shares. */
const usageTotalsFields = {
  usageEvents: z.number().int(),
  tokens,
  costUsd: z.number().nullable(),
  costBasis,
  unpricedEvents: z.number().int(),
};

export const importResultView = z.object({
  files: z.number().int().describe('Files read and written by this import'),
  records: z.number().int(),
  badLines: z.number().int(),
  sessions: z.number().int(),
  usageEvents: z.number().int(),
  unchanged: z.number().int().describe('Files skipped: unchanged since their last import'),
  deferred: z.number().int().describe('Failed files waiting before their next try (live only)'),
  departed: z.number().int().describe('Files imported before and gone now (their rows are kept)'),
  failed: z.array(z.object({ path: z.string(), error: z.string() })),
  refused: z.array(z.object({ path: z.string(), reason: z.string() })),
});

export const sessionItemView = z.object({
  source: z.string(),
  sessionId: z.string(),
  agentId: z.string().nullable(),
  agentType: z.string().nullable(),
  parentSessionId: z.string().nullable(),
  records: z.number().int(),
  ...usageTotalsFields,
  sessionKey: z.string(),
  agentKind: z.string(),
  title: z.string().nullable(),
  startedAt: z.string().nullable(),
  endedAt: z.string().nullable(),
});

export const sessionListView = z.object({ items: z.array(sessionItemView) });

interface AgentNodeView {
  session: z.infer<typeof sessionItemView>;
  depth: number;
  rollup: {
    tokens: z.infer<typeof tokens>;
    costUsd: number | null;
    usageEvents: number;
    unpricedEvents: number;
  };
  children: AgentNodeView[];
}

const agentNodeView: z.ZodType<AgentNodeView> = z.lazy(() =>
  z.object({
    session: sessionItemView,
    depth: z.number().int(),
    rollup: z.object({
      tokens,
      costUsd: z.number().nullable(),
      usageEvents: z.number().int(),
      unpricedEvents: z.number().int(),
    }),
    children: z.array(agentNodeView),
  }),
);

export const sessionDetailView = z.object({
  session: sessionItemView,
  tree: agentNodeView,
  parts: z.array(
    z.object({
      messageId: z.string().nullable(),
      partId: z.string(),
      type: z.string(),
      role: z.string().nullable().describe("The message's role (user, assistant)"),
      text: z.string().nullable().describe('Text or reasoning, cut to 4,000 characters'),
      toolName: z.string().nullable(),
      callId: z.string().nullable(),
      toolStatus: z.string().nullable(),
      toolInput: z
        .string()
        .nullable()
        .describe("A tool call's input as JSON, cut to 4,000 characters"),
      toolError: z.string().nullable(),
      childRef: z.string().nullable(),
      sourceRef: z.string(),
      createdAt: z.string().nullable(),
    }),
  ),
  steps: z
    .array(
      z.object({
        eventKey: z.string(),
        messageId: z.string().nullable(),
        at: z.string().nullable(),
        provider: z.string().nullable(),
        model: z.string().nullable(),
        tokens,
        costUsd: z.number().nullable(),
        costBasis: z.string().describe('reported, computed or unpriced'),
      }),
    )
    .describe("The session's own model calls (each counted once), in time order"),
});

export const dailyView = z.object({
  timezone: z.string(),
  items: z.array(z.object({ day: z.string(), sessions: z.number().int(), ...usageTotalsFields })),
});

export const modelView = z.object({
  items: z.array(
    z.object({
      source: z.string(),
      provider: z.string().nullable(),
      model: z.string().nullable(),
      ...usageTotalsFields,
    }),
  ),
});

export const BREAKDOWN_DIMENSIONS = ['provider', 'project', 'branch'] as const;

export const breakdownQuerySchema = z
  .object({
    by: z
      .enum(BREAKDOWN_DIMENSIONS)
      .describe(
        "provider, project (the session's working directory) or branch (the session's git branch)",
      ),
    since: sinceSchema,
  })
  .strict();

export const breakdownView = z.object({
  by: z.enum(BREAKDOWN_DIMENSIONS),
  items: z.array(
    z.object({ key: z.string().nullable(), sessions: z.number().int(), ...usageTotalsFields }),
  ),
});

export const fileListView = z.object({
  items: z.array(
    z.object({
      source: z.string(),
      kind: z.string(),
      path: z.string(),
      size: z.number().int(),
      status: z.string(),
      error: z.string().nullable(),
      attempts: z.number().int(),
      records: z.number().int(),
      badLines: z.number().int(),
      badLineSamples: z.array(z.object({ line: z.number().int(), reason: z.string() })),
      indexedAt: z.string(),
    }),
  ),
});

export const blockView = z.object({
  items: z.array(
    z.object({
      start: z.string(),
      end: z.string(),
      active: z.boolean(),
      ...usageTotalsFields,
      burnTokensPerMinute: z.number().nullable(),
      projectedTokens: z.number().nullable(),
      projectedCostUsd: z.number().nullable(),
    }),
  ),
});

export const ownCallsQuerySchema = z
  .object({
    by: z
      .enum(['feature', 'model', 'dataset'])
      .default('feature')
      .describe('feature (sheet-cell, chat, workflow…), provider/model, or dataset id'),
    since: sinceSchema,
  })
  .strict();

const rate = z.number().nullable();

export const ownCallsView = z.object({
  by: z.enum(['feature', 'model', 'dataset']),
  items: z.array(
    z.object({
      key: z.string().nullable(),
      calls: z.number().int(),
      attempts: z.number().int(),
      errors: z.number().int(),
      errorRate: rate,
      cacheHits: z.number().int(),
      cacheHitRate: rate,
      latencyP50Ms: z.number().nullable(),
      latencyP95Ms: z.number().nullable(),
      inputTokens: z.number().int(),
      outputTokens: z.number().int(),
      costUsd: z.number(),
      unpricedAttempts: z.number().int(),
    }),
  ),
});

export const toolView = z.object({
  items: z.array(
    z.object({
      toolName: z.string(),
      calls: z.number().int(),
      failures: z.number().int(),
      failureRate: rate,
      unfinished: z.number().int(),
      timedCalls: z.number().int(),
      durationP50Ms: z.number().nullable(),
      durationP95Ms: z.number().nullable(),
      topErrors: z.array(z.object({ error: z.string(), count: z.number().int() })),
    }),
  ),
});

export const watchBodySchema = z
  .object({
    enabled: z.boolean(),
    path: serverPath
      .optional()
      .describe(
        'An absolute server folder inside BRAINCELLS_MONITOR_ROOTS; required to switch on a project that has none yet',
      ),
    source: z.enum(SOURCE_OPTIONS).optional(),
  })
  .strict();

export const watchView = z.object({
  enabled: z.boolean(),
  path: z.string().nullable(),
  source: z.enum(SOURCE_OPTIONS),
  live: z.boolean(),
  watchingHere: z.boolean(),
  lastCycleAt: z.string().nullable(),
  lastImportAt: z.string().nullable(),
  lastError: z.string().nullable(),
  updatedAt: z.string().nullable(),
});

export const budgetBurnView = z.object({
  asOf: z.string(),
  items: z.array(
    z.object({
      id: z.string(),
      scope: z.enum(['project', 'user']),
      userId: z.string().nullable(),
      period: z.enum(['day', 'week', 'month', 'total']),
      hardLimitUsd: z.number().nullable(),
      softLimitUsd: z.number().nullable(),
      periodStart: z.string().nullable(),
      periodEnd: z.string().nullable(),
      spentUsd: z.number(),
      reservedUsd: z.number(),
      burnUsdPerHour: z.number().nullable(),
      projectedUsd: z.number().nullable(),
      exhaustsAt: z.string().nullable(),
      usedShare: z.number().nullable(),
    }),
  ),
});

export const exchangeView = z.object({
  items: z.array(
    z.object({
      index: z.number().int(),
      messageId: z.string(),
      at: z.string(),
      until: z.string().nullable(),
      lastReplyAt: z.string().nullable(),
      prompt: z.string().nullable(),
      reply: z.string().nullable(),
      toolCalls: z.number().int(),
      ...usageTotalsFields,
    }),
  ),
});
