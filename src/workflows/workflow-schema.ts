import { z } from 'zod';
import { nameSchema } from '../sheets/sheet-schema.ts';

/**
 * A workflow definition (docs/workflows.md): named inputs and a list of steps. Each step has an
 * id (what templates and other steps name it by), a kind with its own fields, and the steps it
 * `needs`; templates (`{{inputs.x}}`, `{{steps.id.text}}`) add the steps they read to its needs.
 * The order steps run in is the dependency order (workflow-plan.ts), so a cycle is refused.
 * Limits are explicit: 50 steps, 100 KB of template text per step.
 */
export const stepIdSchema = z
  .string()
  .regex(
    /^[a-z][a-z0-9-]{0,62}$/,
    'must be lower-case letters, digits and dashes (a letter first)',
  );

const templateSchema = z.string().min(1, 'must not be empty').max(100_000);

const stepBase = {
  id: stepIdSchema,
  name: z.string().max(200).optional(),
  needs: z.array(stepIdSchema).max(50).optional(),
  /** Attempts after the first for a retryable error (a 5xx or timeout the router gave up on). */
  retries: z.number().int().min(0).max(10).default(2),
  /** One attempt's limit; the step's calls are aborted when it passes. */
  timeoutMs: z.number().int().min(100).max(3_600_000).default(600_000),
};

const comparison = z.object({
  /** The step whose output is tested. */
  step: stepIdSchema,
  /** A dotted path into its output, e.g. `rows.0.total`, `rowCount`, `text`. */
  path: z
    .string()
    .regex(/^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+){0,9}$/, 'must be a dotted path such as rows.0.total'),
  op: z.enum(['eq', 'ne', 'gt', 'gte', 'lt', 'lte', 'truthy', 'falsy']),
  value: z.union([z.string().max(1_000), z.number(), z.boolean(), z.null()]).optional(),
});

/**
 * The fields an `extract` step reads out of each document: a JSON Schema object whose
 * properties are typed values (string, a `date` string, number, integer, boolean). Each property
 * becomes a typed column of the extraction sheet.
 */
export const extractionSchemaSchema = z.object({
  type: z.literal('object').default('object'),
  properties: z
    .record(
      z
        .string()
        .regex(
          /^[A-Za-z][A-Za-z0-9_ ]{0,62}$/,
          'must be a name of letters, digits, spaces and underscores (a letter first)',
        ),
      z.object({
        type: z.enum(['string', 'number', 'integer', 'boolean']),
        format: z.literal('date').optional(),
        description: z.string().max(1_000).optional(),
      }),
    )
    .refine((properties) => Object.keys(properties).length >= 1, 'name at least one field')
    .refine((properties) => Object.keys(properties).length <= 50, 'at most 50 fields'),
});
export type ExtractionSchema = z.infer<typeof extractionSchemaSchema>;

/** What an `export` step writes: a dataset's formats, then a report's. */
export const DATASET_EXPORT_FORMATS = ['csv', 'tsv', 'jsonl', 'parquet', 'xlsx'] as const;
export const REPORT_EXPORT_FORMATS = ['md', 'html'] as const;
const EXPORT_STEP_FORMATS = [...DATASET_EXPORT_FORMATS, ...REPORT_EXPORT_FORMATS] as const;

export const stepSchema = z.discriminatedUnion('kind', [
  z.object({
    ...stepBase,
    kind: z.literal('import-documents'),
    /** A documents collection: the step waits until every document in it is extracted. */
    datasetId: z.uuid(),
  }),
  z.object({
    ...stepBase,
    kind: z.literal('ai-column'),
    datasetId: z.uuid(),
    columnId: z.uuid(),
    /** `missing` (default) fills empty and failed cells; `all` regenerates every cell. */
    mode: z.enum(['missing', 'all']).default('missing'),
    /**
     * Also report the column's per-cell latency in the output (`latency`: median, p95, slowest,
     * cells timed, cache hits left out), read from the cells' own state once the run ends.
     */
    latency: z.boolean().optional(),
  }),
  z.object({
    ...stepBase,
    kind: z.literal('extract'),
    /** The documents collection read (documents that are `ready`). */
    documentsDatasetId: z.uuid(),
    /** The extraction sheet written, one row per document (missing columns are added). */
    datasetId: z.uuid(),
    schema: extractionSchemaSchema,
    instructions: z.string().max(20_000).optional(),
    provider: z.string().max(200).optional(),
    model: z.string().min(1).max(200),
    /**
     * The most document text one call reads (characters). A longer document is read in page
     * chunks of this size (map), then the chunks' answers are reduced by one more call.
     */
    contextChars: z.number().int().min(500).max(2_000_000).default(24_000),
    /** `missing` (default) skips documents the sheet has a row for; `all` extracts every one again. */
    mode: z.enum(['missing', 'all']).default('missing'),
    /**
     * Documents extracted at once, and chunks of one long document read at once (the LLM
     * router's per-provider limiter still caps the calls in flight).
     */
    concurrency: z.number().int().min(1).max(64).default(4),
  }),
  z.object({
    ...stepBase,
    kind: z.literal('sql'),
    datasetId: z.uuid(),
    /** Read-only SQL over the dataset (`SELECT … FROM dataset`), run in the SQL sandbox. */
    sql: z.string().min(1).max(20_000),
  }),
  z.object({
    ...stepBase,
    kind: z.literal('llm'),
    /**
     * A chat agent of the project: its instructions go first in the system prompt, and its
     * model and provider are used unless the step names its own. Without one, `model` is needed.
     */
    agentId: z.uuid().optional(),
    provider: z.string().max(200).optional(),
    model: z.string().min(1).max(200).optional(),
    system: z.string().max(20_000).optional(),
    prompt: templateSchema,
  }),
  z.object({
    ...stepBase,
    kind: z.literal('branch'),
    when: comparison,
    /** Steps skipped when the condition is false (and the steps that need them). */
    skipIfFalse: z.array(stepIdSchema).min(1).max(50),
  }),
  z.object({
    ...stepBase,
    kind: z.literal('approval'),
    message: z.string().min(1).max(2_000),
  }),
  z.object({
    ...stepBase,
    kind: z.literal('report'),
    title: z.string().min(1).max(200),
    markdown: templateSchema,
    /**
     * Citations (`[[row:<datasetId>/<rowId>]]`, `[[doc:<documentId>#p<page>]]`) are checked when
     * the report is written; one that names nothing is marked unresolved, or, when strict,
     * fails the step.
     */
    strictCitations: z.boolean().default(false),
  }),
  z.object({
    ...stepBase,
    kind: z.literal('export'),
    /** A dataset of the project, exported as csv, tsv, jsonl, parquet or xlsx… */
    datasetId: z.uuid().optional(),
    /** …or the output of a `report` step of this workflow, as md or html. */
    reportStep: stepIdSchema.optional(),
    format: z.enum(EXPORT_STEP_FORMATS),
  }),
]);

export type WorkflowStep = z.infer<typeof stepSchema>;
export type StepKind = WorkflowStep['kind'];
export const STEP_KINDS = stepSchema.options.map((option) => option.shape.kind.value);

export const definitionSchema = z.object({
  description: z.string().max(2_000).default(''),
  inputs: z
    .array(
      z.object({
        name: z.string().regex(/^[a-z][a-zA-Z0-9_]{0,62}$/, 'must be an identifier'),
        default: z.string().max(10_000).optional(),
      }),
    )
    .max(20)
    .default([]),
  steps: z.array(stepSchema).min(1, 'a workflow needs a step').max(50),
});
export type WorkflowDefinition = z.infer<typeof definitionSchema>;
export type WorkflowDefinitionInput = z.input<typeof definitionSchema>;

export const createWorkflowSchema = z.object({ name: nameSchema, definition: definitionSchema });
export const updateWorkflowSchema = z.object({
  /** The version the edit was made on: a stale one answers 409 (no lost update). */
  baseVersion: z.number().int().positive(),
  name: nameSchema.optional(),
  definition: definitionSchema,
});

export const startRunSchema = z.object({
  inputs: z.record(z.string().max(63), z.string().max(10_000)).default({}),
});

export const rerunSchema = z.object({ fromStep: stepIdSchema });

export const approvalSchema = z.object({
  decision: z.enum(['approved', 'rejected']),
  note: z.string().max(2_000).default(''),
});
