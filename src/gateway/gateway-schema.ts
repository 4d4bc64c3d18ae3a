import { z } from 'zod';
import { BUDGET_PERIODS } from '../llm/llm-budget-store.ts';
import { fallbackSchema, modelSchema, providerRefSchema } from '../llm/llm-schema.ts';

/**
 * Gateway keys (the settings a project owner gives an outside app) and the two wire formats
 * the gateway accepts: OpenAI Chat Completions and Anthropic Messages. Wire bodies keep the
 * providers' field names; unknown fields are ignored, as the providers' own servers do for
 * fields a client version adds.
 */

// biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
const noControl = /^[^\u0000-\u001f\u007f]*$/;

/** What a caller writes in `model`: an alias (`fast`) or a prefixed id (`openai/gpt-4o-mini`). */
export const gatewayModelNameSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,199}$/, 'letters, digits and . _ : / @ + - only');

export const gatewayModelSchema = z
  .object({
    /** The name callers use; default `<provider kind>/<model>`. */
    name: gatewayModelNameSchema.optional(),
    provider: providerRefSchema.optional(),
    model: modelSchema,
    /** Tried in order when the model fails for good (after its retries). */
    fallbacks: z.array(fallbackSchema).max(8).optional(),
  })
  .strict();
export type GatewayModelInput = z.infer<typeof gatewayModelSchema>;

/** A model as stored on a key: its name is always set. */
export interface GatewayModel {
  name: string;
  provider: string | undefined;
  model: string;
  fallbacks: { provider?: string | undefined; model: string }[];
}

const budgetLimitSchema = z
  .object({
    period: z.enum(BUDGET_PERIODS),
    hardLimitNano: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  })
  .strict();

const keyFields = {
  name: z.string().trim().min(1).max(200).regex(noControl, 'no control characters'),
  models: z
    .array(gatewayModelSchema)
    .min(1)
    .max(100)
    .refine(
      (models) => {
        const names = models.map((entry) => entry.name).filter((name) => name !== undefined);
        return new Set(names).size === names.length;
      },
      { message: 'model names must be unique' },
    ),
  requestsPerMinute: z.number().int().min(1).max(1_000_000).nullable(),
  tokensPerMinute: z.number().int().min(1).max(1_000_000_000).nullable(),
  budgets: z
    .array(budgetLimitSchema)
    .max(4)
    .refine((limits) => new Set(limits.map((limit) => limit.period)).size === limits.length, {
      message: 'one budget per period',
    }),
  /** Answers may be served from (and stored in) the project's response cache. */
  cache: z.boolean(),
};

export const gatewayKeyCreateSchema = z
  .object({
    name: keyFields.name,
    models: keyFields.models,
    requestsPerMinute: keyFields.requestsPerMinute.optional(),
    tokensPerMinute: keyFields.tokensPerMinute.optional(),
    budgets: keyFields.budgets.optional(),
    cache: keyFields.cache.optional(),
  })
  .strict();
export type GatewayKeyCreate = z.infer<typeof gatewayKeyCreateSchema>;

export const gatewayKeyUpdateSchema = z.object(keyFields).partial().strict();
export type GatewayKeyUpdate = z.infer<typeof gatewayKeyUpdateSchema>;

export const gatewayKeyView = z.object({
  id: z.uuid(),
  name: z.string(),
  prefix: z.string().describe('The first characters of the key, to tell keys apart.'),
  models: z.array(
    z.object({
      name: z.string(),
      provider: z.string().nullable(),
      model: z.string(),
      fallbacks: z.array(z.object({ provider: z.string().optional(), model: z.string() })),
    }),
  ),
  requestsPerMinute: z.number().nullable(),
  tokensPerMinute: z.number().nullable(),
  cache: z.boolean(),
  budgets: z.array(
    z.object({
      period: z.enum(BUDGET_PERIODS),
      hardLimitNano: z.number().nullable(),
      spentNano: z.number(),
      reservedNano: z.number(),
      periodStart: z.string().nullable(),
    }),
  ),
  createdAt: z.iso.datetime(),
  lastUsedAt: z.iso.datetime().nullable(),
  revokedAt: z.iso.datetime().nullable(),
});
export const gatewayKeyCreatedView = gatewayKeyView.extend({
  key: z.string().describe('The bearer token. Shown once; only its hash is kept.'),
});
export const gatewayKeyListView = z.object({ items: z.array(gatewayKeyView) });

// — OpenAI Chat Completions (https://platform.openai.com/docs/api-reference/chat/create) —

const openAiText = z.object({ type: z.literal('text'), text: z.string() });
const openAiImage = z.object({
  type: z.literal('image_url'),
  image_url: z.object({ url: z.string().max(20_000_000), detail: z.string().optional() }),
});
const openAiTextContent = z.union([z.string(), z.array(openAiText).min(1)]);
const openAiToolCall = z.object({
  id: z.string().min(1).max(200),
  type: z.literal('function'),
  function: z.object({ name: z.string().min(1).max(64), arguments: z.string() }),
});

export const openAiMessageSchema = z.discriminatedUnion('role', [
  z.object({ role: z.literal('system'), content: openAiTextContent }),
  z.object({ role: z.literal('developer'), content: openAiTextContent }),
  z.object({
    role: z.literal('user'),
    content: z.union([z.string(), z.array(z.union([openAiText, openAiImage])).min(1)]),
  }),
  z.object({
    role: z.literal('assistant'),
    content: z.union([z.string(), z.array(openAiText), z.null()]).optional(),
    tool_calls: z.array(openAiToolCall).max(128).optional(),
  }),
  z.object({
    role: z.literal('tool'),
    tool_call_id: z.string().min(1).max(200),
    content: openAiTextContent,
  }),
]);
export type OpenAiMessage = z.infer<typeof openAiMessageSchema>;

export const openAiChatSchema = z.object({
  model: z.string().min(1).max(200),
  messages: z.array(openAiMessageSchema).min(1).max(2_000),
  stream: z.boolean().nullable().optional(),
  stream_options: z.object({ include_usage: z.boolean().optional() }).nullable().optional(),
  max_tokens: z.number().int().min(1).nullable().optional(),
  max_completion_tokens: z.number().int().min(1).nullable().optional(),
  temperature: z.number().min(0).max(2).nullable().optional(),
  top_p: z.number().min(0).max(1).nullable().optional(),
  presence_penalty: z.number().min(-2).max(2).nullable().optional(),
  frequency_penalty: z.number().min(-2).max(2).nullable().optional(),
  stop: z
    .union([z.string(), z.array(z.string()).max(16)])
    .nullable()
    .optional(),
  seed: z.number().int().nullable().optional(),
  n: z.literal(1, 'only n = 1 is supported').nullable().optional(),
  reasoning_effort: z.enum(['none', 'minimal', 'low', 'medium', 'high']).nullable().optional(),
  tools: z
    .array(
      z.object({
        type: z.literal('function'),
        function: z.object({
          name: z.string(),
          description: z.string().optional(),
          parameters: z.record(z.string(), z.unknown()).optional(),
        }),
      }),
    )
    .max(128)
    .optional(),
  tool_choice: z
    .union([
      z.enum(['auto', 'none', 'required']),
      z.object({ type: z.literal('function'), function: z.object({ name: z.string() }) }),
    ])
    .optional(),
  response_format: z
    .discriminatedUnion('type', [
      z.object({ type: z.literal('text') }),
      z.object({ type: z.literal('json_object') }),
      z.object({
        type: z.literal('json_schema'),
        json_schema: z.object({
          name: z.string().max(64),
          schema: z.record(z.string(), z.unknown()).optional(),
          strict: z.boolean().nullable().optional(),
        }),
      }),
    ])
    .optional(),
});
export type OpenAiChatRequest = z.infer<typeof openAiChatSchema>;

// — Anthropic Messages (https://docs.anthropic.com/en/api/messages) —

const anthropicText = z.object({ type: z.literal('text'), text: z.string() });
const anthropicImage = z.object({
  type: z.literal('image'),
  source: z.discriminatedUnion('type', [
    z.object({
      type: z.literal('base64'),
      media_type: z.string().regex(/^image\/[a-z0-9.+-]+$/),
      data: z.string().max(20_000_000),
    }),
    z.object({ type: z.literal('url'), url: z.string().max(2_000) }),
  ]),
});
const anthropicToolUse = z.object({
  type: z.literal('tool_use'),
  id: z.string().min(1).max(200),
  name: z.string().min(1).max(64),
  input: z.unknown(),
});
const anthropicToolResult = z.object({
  type: z.literal('tool_result'),
  tool_use_id: z.string().min(1).max(200),
  content: z.union([z.string(), z.array(anthropicText)]).optional(),
  is_error: z.boolean().optional(),
});
const anthropicThinking = z.object({
  type: z.literal('thinking'),
  thinking: z.string(),
  signature: z.string().optional(),
});

export const anthropicMessageSchema = z.discriminatedUnion('role', [
  z.object({
    role: z.literal('user'),
    content: z.union([
      z.string(),
      z
        .array(z.discriminatedUnion('type', [anthropicText, anthropicImage, anthropicToolResult]))
        .min(1),
    ]),
  }),
  z.object({
    role: z.literal('assistant'),
    content: z.union([
      z.string(),
      z.array(z.discriminatedUnion('type', [anthropicText, anthropicToolUse, anthropicThinking])),
    ]),
  }),
]);
export type AnthropicMessage = z.infer<typeof anthropicMessageSchema>;

export const anthropicMessagesSchema = z.object({
  model: z.string().min(1).max(200),
  max_tokens: z.number().int().min(1),
  messages: z.array(anthropicMessageSchema).min(1).max(2_000),
  system: z.union([z.string(), z.array(anthropicText)]).optional(),
  stream: z.boolean().optional(),
  temperature: z.number().min(0).max(1).optional(),
  top_p: z.number().min(0).max(1).optional(),
  top_k: z.number().int().min(1).optional(),
  stop_sequences: z.array(z.string()).max(16).optional(),
  tools: z
    .array(
      z.object({
        name: z.string(),
        description: z.string().optional(),
        input_schema: z.record(z.string(), z.unknown()),
      }),
    )
    .max(128)
    .optional(),
  tool_choice: z
    .discriminatedUnion('type', [
      z.object({ type: z.literal('auto') }),
      z.object({ type: z.literal('any') }),
      z.object({ type: z.literal('none') }),
      z.object({ type: z.literal('tool'), name: z.string() }),
    ])
    .optional(),
});
export type AnthropicMessagesRequest = z.infer<typeof anthropicMessagesSchema>;
