import { z } from 'zod';
import { modelSchema, providerRefSchema } from '../../llm/llm-schema.ts';
import { nameSchema, rowIdStringSchema } from '../sheet-schema.ts';
import { OUTPUT_TYPES } from './generation-output.ts';

/** Inputs of the AI-column use cases, each with explicit limits (DESIGN.md "Validation"). */
export const MAX_TEMPLATE = 20_000;
export const MAX_INSTRUCTIONS = 20_000;
export const MAX_CELLS_PER_RUN_REQUEST = 10_000;
export const MAX_GENERATED_ROWS = 1_000;

// biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
const noControl = /^[^\u0000-\u001f\u007f]*$/;

/** Sizes the OpenAI images API takes (DALL·E 2 and 3, gpt-image-1); servers copy them. */
export const IMAGE_SIZES = [
  '256x256',
  '512x512',
  '1024x1024',
  '1024x1536',
  '1536x1024',
  '1024x1792',
  '1792x1024',
] as const;

export const generationParametersSchema = z
  .object({
    temperature: z.number().min(0).max(2).optional(),
    maxOutputTokens: z.number().int().min(1).max(100_000).optional(),
    topP: z.number().min(0).max(1).optional(),
  })
  .strict();
export type GenerationParameters = z.infer<typeof generationParametersSchema>;

const categorySchema = z.string().trim().min(1).max(200).regex(noControl, 'no control characters');

export const outputSpecSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('text') }).strict(),
  z.object({ type: z.literal('number') }).strict(),
  z.object({ type: z.literal('boolean') }).strict(),
  z
    .object({
      type: z.literal('category'),
      categories: z
        .array(categorySchema)
        .min(2)
        .max(500)
        .refine(
          (list) => new Set(list.map((item) => item.toLowerCase())).size === list.length,
          'categories must be distinct',
        ),
    })
    .strict(),
  z
    .object({
      type: z.literal('json'),
      schema: z
        .record(z.string(), z.unknown())
        .refine((schema) => JSON.stringify(schema).length <= 50_000, 'schema is too large'),
    })
    .strict(),
  z
    .object({
      type: z.literal('image'),
      /** `WIDTHxHEIGHT`; omitted: the provider's default. */
      size: z.enum(IMAGE_SIZES).optional(),
    })
    .strict(),
]);

export const searchSettingsSchema = z
  .object({
    enabled: z.boolean(),
    /** A template for the search query; default: the rendered prompt. */
    query: z.string().min(1).max(2_000).optional(),
  })
  .strict();
export type SearchSettings = z.infer<typeof searchSettingsSchema>;

/** The process of an AI column: prompt template, model, parameters, output, grounding. */
export const processFieldsSchema = z.object({
  /** `{{Column Name}}` references are resolved against the dataset's columns. */
  prompt: z.string().trim().min(1).max(MAX_TEMPLATE),
  instructions: z.string().max(MAX_INSTRUCTIONS).default(''),
  provider: providerRefSchema.optional(),
  model: modelSchema,
  parameters: generationParametersSchema.default({}),
  output: outputSpecSchema.default({ type: 'text' }),
  search: searchSettingsSchema.optional(),
});

export const RUN_MODES = ['all', 'empty', 'range', 'errors', 'stale', 'outdated', 'cells'] as const;
export type RunMode = (typeof RUN_MODES)[number];

/**
 * Which cells a run generates: every cell, empty ones, a range of rows (1-based positions in
 * row order, inclusive), errors, stale cells, `outdated` (anything not done with the current
 * prompt and inputs), or listed cells. Validated cells only when asked.
 */
export const runRequestSchema = z
  .object({
    mode: z.enum(RUN_MODES).default('all'),
    rowIds: z.array(rowIdStringSchema).min(1).max(MAX_CELLS_PER_RUN_REQUEST).optional(),
    range: z
      .object({ from: z.number().int().min(1), to: z.number().int().min(1) })
      .strict()
      .refine((range) => range.to >= range.from, { message: 'to must be ≥ from', path: ['to'] })
      .optional(),
    includeValidated: z.boolean().optional(),
    /** Afterwards, regenerate the AI columns that use this one (and theirs, in order). */
    includeDownstream: z.boolean().default(false),
    /** Skip the response cache (default: on for listed cells, off otherwise). */
    fresh: z.boolean().optional(),
    /** Start even if the estimated cost is above the confirmation threshold. */
    confirm: z.boolean().default(false),
  })
  .strict()
  .refine((value) => value.mode !== 'cells' || value.rowIds !== undefined, {
    message: 'mode cells needs rowIds',
    path: ['rowIds'],
  })
  .refine((value) => value.mode !== 'range' || value.range !== undefined, {
    message: 'mode range needs range',
    path: ['range'],
  });
export type RunRequest = z.input<typeof runRequestSchema>;
export type ParsedRunRequest = z.output<typeof runRequestSchema>;

export const createAiColumnSchema = processFieldsSchema.extend({
  name: nameSchema,
  position: z.number().int().min(0).optional(),
  /** Start filling the column at once (default true). */
  run: z.boolean().default(true),
  /** Start the first run even if its estimated cost is above the confirmation threshold. */
  confirm: z.boolean().default(false),
});
export type CreateAiColumnInput = z.input<typeof createAiColumnSchema>;

export const updateProcessSchema = processFieldsSchema
  .partial()
  .extend({ search: searchSettingsSchema.nullable().optional() })
  .strict();
export type UpdateProcessInput = z.input<typeof updateProcessSchema>;

/** Rows a prompt preview renders at most. */
export const MAX_PROMPT_PREVIEW_ROWS = 20;

/**
 * A prompt rendered against the first rows without calling a model, while it is being written:
 * the draft's prompt, instructions and output (what the system message says), and the column
 * being edited (absent: a new column, named `columnName`).
 */
export const promptPreviewSchema = z
  .object({
    prompt: z.string().trim().min(1).max(MAX_TEMPLATE),
    instructions: z.string().max(MAX_INSTRUCTIONS).default(''),
    output: outputSpecSchema.default({ type: 'text' }),
    columnId: z.uuid().optional(),
    columnName: nameSchema.optional(),
    rows: z.number().int().min(1).max(MAX_PROMPT_PREVIEW_ROWS).default(3),
  })
  .strict();
export type PromptPreviewInput = z.input<typeof promptPreviewSchema>;

export const generateRowsSchema = z
  .object({
    description: z.string().trim().min(1).max(MAX_TEMPLATE),
    count: z.number().int().min(1).max(MAX_GENERATED_ROWS),
    /** Columns to fill (static columns; default: all of them). */
    columnIds: z.array(z.uuid()).min(1).max(100).optional(),
    provider: providerRefSchema.optional(),
    model: modelSchema,
    parameters: generationParametersSchema.default({}),
    confirm: z.boolean().default(false),
  })
  .strict();
export type GenerateRowsInput = z.input<typeof generateRowsSchema>;

export { OUTPUT_TYPES };
