import { z } from 'zod';
import { BUDGET_PERIODS } from './llm-budget-store.ts';
import { PROVIDER_KINDS } from './llm-provider.ts';

/** Limits on what a call may carry; a prompt bigger than this is refused before any spend. */
export const MAX_MESSAGES = 2_000;
export const MAX_PROMPT_CHARS = 2_000_000;

// biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
const noControl = /^[^\u0000-\u001f\u007f]*$/;

export const featureSchema = z
  .string()
  .regex(
    /^[a-z][a-z0-9-]{0,63}$/,
    'a lowercase name like sheet-cell, chat, summary or search-query',
  );

export const providerRefSchema = z
  .string()
  .regex(
    /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|env:(openai|anthropic|huggingface|openai-compatible))$/,
    'a provider id or env:<kind>',
  );

export const modelSchema = z.string().min(1).max(200).regex(noControl, 'no control characters');

const textPart = z.object({ type: z.literal('text'), text: z.string() });
const imagePart = z.object({
  type: z.literal('image'),
  url: z
    .string()
    .max(20_000_000)
    .regex(/^(https:|data:image\/)/, 'an https: or data:image URL'),
  mediaType: z.string().max(100).optional(),
});

const reasoningPart = z.object({ type: z.literal('reasoning'), text: z.string() });
/** Tool names every provider accepts (OpenAI's rule, the strictest). */
export const toolNameSchema = z
  .string()
  .regex(/^[a-zA-Z0-9_-]{1,64}$/, 'letters, digits, _ and - only, at most 64');
const toolCallIdSchema = z.string().min(1).max(200).regex(noControl, 'no control characters');
const toolCallPart = z.object({
  type: z.literal('tool-call'),
  toolCallId: toolCallIdSchema,
  toolName: toolNameSchema,
  input: z.unknown(),
});
const toolResultPart = z.object({
  type: z.literal('tool-result'),
  toolCallId: toolCallIdSchema,
  toolName: toolNameSchema,
  output: z.unknown(),
  isError: z.boolean().optional(),
});

export const messageSchema = z.discriminatedUnion('role', [
  z.object({ role: z.literal('system'), content: z.string() }),
  z.object({
    role: z.literal('user'),
    content: z.union([z.string(), z.array(z.union([textPart, imagePart])).min(1)]),
  }),
  z.object({
    role: z.literal('assistant'),
    content: z.union([
      z.string(),
      z.array(z.discriminatedUnion('type', [textPart, reasoningPart, toolCallPart])).min(1),
    ]),
  }),
  z.object({ role: z.literal('tool'), content: z.array(toolResultPart).min(1) }),
]);

/** A tool the model may call: its input is a JSON Schema of an object. */
export const toolDefinitionSchema = z
  .object({
    name: toolNameSchema,
    description: z.string().max(10_000).optional(),
    inputSchema: z
      .record(z.string(), z.unknown())
      .refine((schema) => schema.type === undefined || schema.type === 'object', {
        message: 'a tool input schema describes an object',
      }),
  })
  .strict();

export const toolChoiceSchema = z.union([
  z.enum(['auto', 'required', 'none']),
  z.object({ toolName: toolNameSchema }).strict(),
]);

export const MAX_TOOLS = 128;

export const parametersSchema = z
  .object({
    maxOutputTokens: z.number().int().min(1).max(1_000_000).optional(),
    temperature: z.number().min(0).max(2).optional(),
    topP: z.number().min(0).max(1).optional(),
    topK: z.number().int().min(1).max(1_000).optional(),
    presencePenalty: z.number().min(-2).max(2).optional(),
    frequencyPenalty: z.number().min(-2).max(2).optional(),
    stopSequences: z.array(z.string().min(1).max(200)).max(16).optional(),
    seed: z.number().int().optional(),
    reasoningEffort: z.enum(['none', 'minimal', 'low', 'medium', 'high']).optional(),
  })
  .strict();

export const fallbackSchema = z.object({
  provider: providerRefSchema.optional(),
  model: modelSchema,
});

const timeoutMs = z.number().int().min(1).max(86_400_000);

/** Everything a caller may pass to `llm.stream` / `llm.generate`, besides actor and signal. */
export const callSchema = z
  .object({
    projectId: z.uuid(),
    userId: z.uuid().optional(),
    feature: featureSchema,
    entityIds: z
      .record(z.string().regex(/^[a-zA-Z][a-zA-Z0-9]{0,63}$/), z.string().max(200))
      .optional(),
    gatewayKeyId: z.uuid().optional(),
    provider: providerRefSchema.optional(),
    model: modelSchema,
    messages: z
      .array(messageSchema)
      .min(1)
      .max(MAX_MESSAGES)
      .refine((messages) => promptChars(messages) <= MAX_PROMPT_CHARS, {
        message: `the prompt is longer than ${MAX_PROMPT_CHARS} characters`,
      }),
    parameters: parametersSchema.optional(),
    outputSchema: z.record(z.string(), z.unknown()).optional(),
    tools: z
      .array(toolDefinitionSchema)
      .max(MAX_TOOLS)
      .refine((tools) => new Set(tools.map((tool) => tool.name)).size === tools.length, {
        message: 'tool names must be unique',
      })
      .optional(),
    toolChoice: toolChoiceSchema.optional(),
    cache: z.enum(['use', 'bypass', 'off']).optional(),
    timeouts: z
      .object({ firstChunkMs: timeoutMs, idleMs: timeoutMs, totalMs: timeoutMs })
      .partial()
      .optional(),
    fallbacks: z.array(fallbackSchema).max(8).optional(),
    usageDurability: z.enum(['database', 'outbox']).optional(),
  })
  .superRefine((call, context) => {
    const choice = call.toolChoice;
    if (choice !== undefined && choice !== 'auto' && choice !== 'none' && !call.tools?.length)
      context.addIssue({ code: 'custom', path: ['toolChoice'], message: 'needs tools' });
    if (typeof choice === 'object' && !call.tools?.some((tool) => tool.name === choice.toolName))
      context.addIssue({
        code: 'custom',
        path: ['toolChoice', 'toolName'],
        message: `names no tool of the request: ${choice.toolName}`,
      });
  });

/** Characters of a message's text, tool calls and results (the prompt-size limit). */
function promptChars(messages: readonly z.infer<typeof messageSchema>[]): number {
  let total = 0;
  for (const message of messages) {
    if (typeof message.content === 'string') total += message.content.length;
    else
      for (const part of message.content) {
        if (part.type === 'text' || part.type === 'reasoning') total += part.text.length;
        else if (part.type === 'tool-call') total += jsonLength(part.input);
        else if (part.type === 'tool-result') total += jsonLength(part.output);
      }
  }
  return total;
}

function jsonLength(value: unknown): number {
  return value === undefined ? 0 : (JSON.stringify(value)?.length ?? 0);
}

// — HTTP bodies —

const nameSchema = z.string().trim().min(1).max(200).regex(noControl, 'no control characters');
const baseUrlSchema = z
  .url({ protocol: /^https?$/ })
  .max(2_000)
  .refine(
    (value) => !new URL(value).username && !new URL(value).password,
    'put credentials in apiKey, not in the URL',
  );
const apiKeySchema = z.string().min(1).max(1_000).regex(noControl, 'no control characters');

export const providerCreateSchema = z
  .object({
    name: nameSchema,
    kind: z.enum(PROVIDER_KINDS),
    baseUrl: baseUrlSchema.optional(),
    apiKey: apiKeySchema.optional(),
    models: z.array(modelSchema).max(500).optional(),
    fallbacks: z.record(modelSchema, z.array(fallbackSchema).max(8)).optional(),
    maxConcurrency: z.number().int().min(1).max(1_000).optional(),
    requestsPerMinute: z.number().int().min(1).max(1_000_000).nullable().optional(),
    catalogProvider: z
      .string()
      .min(1)
      .max(100)
      .regex(/^[a-z0-9_-]+$/)
      .nullable()
      .optional(),
    enabled: z.boolean().optional(),
  })
  .strict()
  .refine((value) => value.kind !== 'openai-compatible' || value.baseUrl !== undefined, {
    message: 'an openai-compatible provider needs a baseUrl',
    path: ['baseUrl'],
  });

export const providerUpdateSchema = z
  .object({
    name: nameSchema,
    baseUrl: baseUrlSchema.nullable(),
    /** A new key; null removes it; absent keeps the stored one. */
    apiKey: apiKeySchema.nullable(),
    models: z.array(modelSchema).max(500),
    fallbacks: z.record(modelSchema, z.array(fallbackSchema).max(8)),
    maxConcurrency: z.number().int().min(1).max(1_000),
    requestsPerMinute: z.number().int().min(1).max(1_000_000).nullable(),
    catalogProvider: z
      .string()
      .min(1)
      .max(100)
      .regex(/^[a-z0-9_-]+$/)
      .nullable(),
    enabled: z.boolean(),
  })
  .partial()
  .strict();

export const providerTestSchema = z.object({ model: modelSchema.optional() }).strict();

const nano = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

export const priceOverrideSchema = z
  .object({
    model: modelSchema,
    /** USD per million tokens. */
    inputUsdPerMtok: z.number().min(0).max(100_000),
    outputUsdPerMtok: z.number().min(0).max(100_000),
    cacheReadUsdPerMtok: z.number().min(0).max(100_000).optional(),
    cacheWriteUsdPerMtok: z.number().min(0).max(100_000).optional(),
    validFrom: z.iso.datetime({ offset: true }).optional(),
  })
  .strict();

export const budgetCreateSchema = z
  .object({
    userId: z.uuid().optional(),
    period: z.enum(BUDGET_PERIODS),
    hardLimitNano: nano.optional(),
    softLimitNano: nano.optional(),
  })
  .strict()
  .refine((value) => value.hardLimitNano !== undefined || value.softLimitNano !== undefined, {
    message: 'set hardLimitNano, softLimitNano or both',
    path: ['hardLimitNano'],
  });

export const budgetUpdateSchema = z
  .object({ hardLimitNano: nano.nullable(), softLimitNano: nano.nullable() })
  .partial()
  .strict();

export const spendQuerySchema = z
  .object({
    since: z
      .string()
      .regex(
        /^(\d{1,4}d|\d{4}-\d{2}-\d{2})$/,
        'a number of days like 30d, or a date like 2026-11-01',
      )
      .default('30d'),
    until: z.iso.date().optional(),
    groupBy: z
      .string()
      .regex(
        /^(day|model|feature|provider)(,(day|model|feature|provider))*$/,
        'day, model, feature and/or provider, comma-separated',
      )
      .optional(),
  })
  .strict();

export const spendByEntityQuerySchema = z
  .object({
    since: spendQuerySchema.shape.since,
    until: spendQuerySchema.shape.until,
    by: z.enum(['dataset', 'column', 'run', 'gateway-key']),
  })
  .strict();

/** `30d` → that many days before `now` (UTC midnight); `2026-11-01` → that date. */
export function parseSince(since: string, now: Date): Date {
  if (/^\d+d$/.test(since)) {
    const days = Number(since.slice(0, -1));
    const today = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
    return new Date(today - (days - 1) * 86_400_000);
  }
  return new Date(`${since}T00:00:00Z`);
}

// — HTTP answers (every field that leaves the server; see llm-presenter.ts) —

const nullableNano = z.number().int().nullable();
const fallbackView = z.object({ provider: z.string().optional(), model: z.string() });

export const providerView = z.object({
  id: z.string(),
  projectId: z.string().nullable().describe('null: instance-wide'),
  source: z.enum(['project', 'instance', 'env']),
  name: z.string(),
  kind: z.enum(PROVIDER_KINDS),
  baseUrl: z.string().nullable(),
  apiKey: z
    .string()
    .nullable()
    .describe('Masked, e.g. sk-…abcd; the key itself never leaves the server'),
  hasApiKey: z.boolean(),
  models: z.array(z.string()).describe('Enabled models; empty: any'),
  fallbacks: z.record(z.string(), z.array(fallbackView)),
  maxConcurrency: z.number().int(),
  requestsPerMinute: z.number().int().nullable(),
  catalogProvider: z.string().nullable().describe('genai-prices provider id used for prices'),
  enabled: z.boolean(),
  createdAt: z.string(),
  updatedAt: z.string(),
});

export const providerListView = z.object({ items: z.array(providerView) });

export const providerTestView = z.object({
  ok: z.boolean(),
  latencyMs: z.number(),
  models: z.array(z.string()).optional(),
  modelChecked: z.string().optional(),
  error: z
    .object({
      code: z.string(),
      reason: z.string(),
      message: z.string(),
      httpStatus: z.number().int().optional(),
    })
    .optional(),
});

export const modelListView = z.object({
  providerListsModels: z.boolean(),
  listError: z.string().optional(),
  models: z.array(
    z.object({
      id: z.string(),
      name: z.string().nullable(),
      offered: z.boolean().describe('listed by the provider'),
      inCatalog: z.boolean().describe("one of the price catalog's models"),
      enabled: z.boolean(),
      inputUsdPerMtok: z
        .number()
        .nullable()
        .describe('USD per million input tokens at the current date; null: unknown'),
      outputUsdPerMtok: z
        .number()
        .nullable()
        .describe('USD per million output tokens at the current date; null: unknown'),
      cacheReadUsdPerMtok: z
        .number()
        .nullable()
        .describe('USD per million cache-read tokens; null: no separate rate (charged as input)'),
      priceSource: z
        .enum(['override', 'catalog'])
        .nullable()
        .describe("the project's price override (which wins), the genai-prices catalog, or null"),
      tiered: z
        .boolean()
        .describe("the catalog's rates depend on the prompt size; the first tier's are given"),
      contextWindow: z
        .number()
        .int()
        .nullable()
        .describe('tokens the model reads at most (prompt and answer); null: unknown'),
    }),
  ),
});

export const priceView = z.object({
  id: z.string(),
  model: z.string(),
  inputUsdPerMtok: z.number().nullable(),
  outputUsdPerMtok: z.number().nullable(),
  cacheReadUsdPerMtok: z.number().nullable(),
  cacheWriteUsdPerMtok: z.number().nullable(),
  validFrom: z.string(),
  createdAt: z.string(),
});

export const budgetView = z.object({
  id: z.string(),
  scope: z.enum(['project', 'user']),
  userId: z.string().nullable(),
  period: z.enum(BUDGET_PERIODS),
  hardLimitNano: nullableNano,
  softLimitNano: nullableNano,
  periodStart: z.string().nullable(),
  spentNano: z.number().int(),
  reservedNano: z.number().int(),
  createdAt: z.string(),
  updatedAt: z.string(),
});

const spendRowView = z.object({
  day: z.string().optional(),
  model: z.string().optional(),
  feature: z.string().optional(),
  providerKind: z.string().optional(),
  calls: z.number().int(),
  attempts: z.number().int(),
  errors: z.number().int(),
  cacheHits: z.number().int(),
  cacheMisses: z.number().int(),
  uncachedInputTokens: z.number().int(),
  cacheReadTokens: z.number().int(),
  cacheWriteTokens: z.number().int(),
  outputTokens: z.number().int(),
  reasoningTokens: z.number().int(),
  costNano: z.number().int().describe('Sum of known costs, nano-USD'),
  unpricedAttempts: z.number().int().describe('Attempts of unknown price, not in costNano'),
  savedNano: z.number().int(),
});

export const spendView = z.object({
  since: z.string(),
  until: z.string().nullable(),
  groupBy: z.array(z.string()),
  total: z.object({
    costNano: z.number().int(),
    calls: z.number().int(),
    unpricedAttempts: z.number().int(),
    savedNano: z.number().int(),
  }),
  rows: z.array(spendRowView),
});

export const entitySpendView = z.object({
  since: z.string(),
  until: z.string().nullable(),
  by: z.enum(['dataset', 'column', 'run', 'gateway-key']),
  rows: z.array(
    z.object({
      entityId: z.string().nullable(),
      datasetId: z.string().nullable(),
      calls: z.number().int(),
      errors: z.number().int(),
      cacheHits: z.number().int(),
      costNano: z.number().int(),
      unpricedAttempts: z.number().int(),
    }),
  ),
});

const nullableCount = z.number().int().nullable();

export const callView = z.object({
  id: z.string(),
  callId: z.string(),
  createdAt: z.string(),
  userId: z.string().nullable(),
  feature: z.string(),
  entityIds: z.unknown(),
  provider: z.string(),
  providerKind: z.string(),
  model: z.string(),
  attempt: z.number().int(),
  status: z.string(),
  errorCode: z.string().nullable(),
  reason: z.string().nullable(),
  httpStatus: z.number().int().nullable(),
  requestId: z.string().nullable(),
  finishReason: z.string().nullable(),
  cacheStatus: z.string().nullable(),
  tokens: z.object({
    uncachedInput: nullableCount,
    cacheRead: nullableCount,
    cacheWrite: nullableCount,
    output: nullableCount,
    reasoning: nullableCount,
    estimated: z.boolean(),
  }),
  costNano: nullableNano.describe('null: price unknown'),
  savedNano: nullableNano,
  latencyMs: z.number().int(),
  timeToFirstTokenMs: z.number().int().nullable(),
});

export const cacheStatsView = z.object({
  entries: z.number().int(),
  hits: z.number().int(),
  misses: z.number().int(),
  savedNano: z.number().int(),
});
