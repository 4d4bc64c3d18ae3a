import { z } from 'zod';
import type { Actor } from '../access/actor.ts';
import { validationError } from '../platform/app-error.ts';
import type { ColumnType } from '../sheets/sheet-schema.ts';
import { nameSchema } from '../sheets/sheet-schema.ts';
import { extractionColumns } from './workflow-extract.ts';
import type { ExtractionSchema, WorkflowDefinitionInput } from './workflow-schema.ts';

/**
 * Workflow templates (docs/workflows.md, issue #17 item 5): a request names a template and
 * what it works on; the template makes what the workflow needs (the sample documents, an
 * extraction sheet, AI columns — created without running them) and returns an ordinary
 * definition, saved and checked like any other. Figures in the reports come from SQL steps.
 */
const model = z.string().min(1).max(200);
const provider = z.string().max(200).optional();
const prompt = z.string().trim().min(1).max(20_000);

export const fromTemplateSchema = z.discriminatedUnion('template', [
  z.object({
    template: z.literal('investigate-documents'),
    name: nameSchema.optional(),
    /** The collection to investigate; or `sampleDocuments: true` to make one. */
    documentsDatasetId: z.uuid().optional(),
    sampleDocuments: z.boolean().default(false),
    model,
    provider,
    /** The most text one extraction call reads (longer documents are map-reduced). */
    contextChars: z.number().int().min(500).max(2_000_000).default(4_000),
  }),
  z.object({
    template: z.literal('enrich-dataset'),
    name: nameSchema.optional(),
    datasetId: z.uuid(),
    /** The new AI column's prompt, over other columns as `{{Column}}`. */
    prompt,
    columnName: nameSchema,
    model,
    provider,
  }),
  z.object({
    template: z.literal('compare-models'),
    name: nameSchema.optional(),
    datasetId: z.uuid(),
    prompt,
    modelA: model,
    modelB: model,
    providerA: provider,
    providerB: provider,
  }),
]);
export type FromTemplateInput = z.infer<typeof fromTemplateSchema>;

export const TEMPLATE_NAMES = fromTemplateSchema.options.map(
  (option) => option.shape.template.value,
);
export type TemplateName = FromTemplateInput['template'];

/** One input of a template, as a picker (web or CLI) asks for it. */
export interface TemplateField {
  name: string;
  label: string;
  /** `dataset`/`documents`: a dataset or documents collection id of the project. */
  type: 'text' | 'prompt' | 'model' | 'provider' | 'dataset' | 'documents' | 'boolean' | 'number';
  required: boolean;
  help?: string;
}

export interface TemplateInfo {
  template: TemplateName;
  title: string;
  description: string;
  fields: TemplateField[];
}

const nameField: TemplateField = {
  name: 'name',
  label: 'Workflow name',
  type: 'text',
  required: false,
  help: 'Named after what it works on when left empty.',
};

const datasetField: TemplateField = {
  name: 'datasetId',
  label: 'Dataset',
  type: 'dataset',
  required: true,
};

const promptField: TemplateField = {
  name: 'prompt',
  label: 'Prompt',
  type: 'prompt',
  required: true,
  help: 'Other columns as {{Column}}.',
};

/** The model a step calls (required) and its provider connection (optional), e.g. `modelA`. */
const modelFields = (suffix = ''): TemplateField[] => [
  {
    name: `model${suffix}`,
    label: `Model${suffix ? ` ${suffix}` : ''}`,
    type: 'model',
    required: true,
  },
  {
    name: `provider${suffix}`,
    label: `Provider${suffix ? ` ${suffix}` : ''}`,
    type: 'provider',
    required: false,
  },
];

/**
 * What each template asks for, for pickers (docs/workflows.md "Templates"). The fields are the
 * request's (a test holds them to `fromTemplateSchema`), so a picker never asks for a field the
 * request would refuse or misses one it requires.
 */
export const TEMPLATE_CATALOGUE: readonly TemplateInfo[] = [
  {
    template: 'investigate-documents',
    title: 'Investigate documents',
    description:
      'Documents → an extraction sheet (vendor, invoice number, date, amount, currency, each with its citation) → anomaly queries (amounts over 3× the median, invoice numbers billed twice) → a findings report that links every finding to its row and document page.',
    fields: [
      nameField,
      {
        name: 'documentsDatasetId',
        label: 'Documents collection',
        type: 'documents',
        required: false,
        help: 'Required unless the sample documents are made.',
      },
      {
        name: 'sampleDocuments',
        label: 'Make the sample invoices',
        type: 'boolean',
        required: false,
        help: 'Adds a collection of generated sample invoices (one billed twice, one far over the rest).',
      },
      ...modelFields(),
      {
        name: 'contextChars',
        label: 'Characters per extraction call',
        type: 'number',
        required: false,
        help: 'Longer documents are read in page chunks, then reduced (default 4,000).',
      },
    ],
  },
  {
    template: 'enrich-dataset',
    title: 'Enrich a dataset',
    description:
      'A new AI column on a dataset, filled on the rows that lack it, and a short report of what was filled with its tokens and cost.',
    fields: [
      nameField,
      datasetField,
      { name: 'columnName', label: 'New column', type: 'text', required: true },
      promptField,
      ...modelFields(),
    ],
  },
  {
    template: 'compare-models',
    title: 'Compare two models on a column',
    description:
      'The same prompt in two AI columns (A and B), then a report with tokens, cost, run time and per-cell latency side by side (cache hits left out), and how often they agree.',
    fields: [nameField, datasetField, promptField, ...modelFields('A'), ...modelFields('B')],
  },
];

/** Something a template makes before its workflow is saved. */
export type TemplateCreation =
  | { kind: 'documents'; name: string; documents: number }
  | { kind: 'dataset'; name: string; columns: string[] }
  | { kind: 'ai-column'; datasetId: string; name: string; model: string };

/** Ids a preview gives what it would make (never stored: a preview saves nothing). */
const PLANNED_ID_PREFIX = '00000000-0000-7000-8000-';
const plannedId = (index: number) => `${PLANNED_ID_PREFIX}${String(index).padStart(12, '0')}`;
export const isPlannedId = (id: string) => id.startsWith(PLANNED_ID_PREFIX);

/**
 * Ports that make nothing: each creation is listed (and given a placeholder id) instead, and
 * reads of real datasets go through (access and existence are checked as for the real thing).
 * The preview runs the very template code a create runs, so what it shows is what is made.
 */
export function previewPorts(
  real: TemplatePorts,
  sampleCount: number,
): { ports: TemplatePorts; creations: TemplateCreation[] } {
  const creations: TemplateCreation[] = [];
  const planned = new Map<string, { name: string; columns: { id: string; name: string }[] }>();
  const plan = (entry: TemplateCreation, columns: string[] = []) => {
    creations.push(entry);
    const id = plannedId(creations.length);
    planned.set(id, {
      name: entry.name,
      columns: columns.map((name, index) => ({ id: plannedId(1000 + index), name })),
    });
    return id;
  };
  return {
    creations,
    ports: {
      async sampleDocuments() {
        return {
          datasetId: plan({ kind: 'documents', name: 'Sample invoices', documents: sampleCount }),
        };
      },
      async dataset(actor, projectId, datasetId) {
        return planned.get(datasetId) ?? real.dataset(actor, projectId, datasetId);
      },
      async createDataset(_actor, _projectId, name, columns) {
        const names = columns.map((column) => column.name);
        return { id: plan({ kind: 'dataset', name, columns: names }, names) };
      },
      async createAiColumn(_actor, _projectId, datasetId, column) {
        const id = plan({ kind: 'ai-column', datasetId, name: column.name, model: column.model });
        return { id, name: column.name };
      },
    },
  };
}

/** What templates make, through other features' use cases (wired in workflows-module.ts). */
export interface TemplatePorts {
  sampleDocuments(actor: Actor, projectId: string): Promise<{ datasetId: string }>;
  dataset(
    actor: Actor,
    projectId: string,
    datasetId: string,
  ): Promise<{ name: string; columns: readonly { id: string; name: string }[] }>;
  createDataset(
    actor: Actor,
    projectId: string,
    name: string,
    columns: { name: string; type: ColumnType }[],
  ): Promise<{ id: string }>;
  /** An AI column, created without running it (the workflow's step runs it). */
  createAiColumn(
    actor: Actor,
    projectId: string,
    datasetId: string,
    column: { name: string; prompt: string; model: string; provider?: string | undefined },
  ): Promise<{ id: string; name: string }>;
}

export const INVOICE_SCHEMA: ExtractionSchema = {
  type: 'object',
  properties: {
    vendor: { type: 'string', description: 'who issued the document' },
    invoice_number: { type: 'string', description: 'the invoice or statement number' },
    date: { type: 'string', format: 'date', description: 'the date it was issued' },
    amount: { type: 'number', description: 'the total amount due' },
    currency: { type: 'string', description: 'the ISO currency code' },
  },
};

/** A column name as a SQL identifier (the sandbox runs it; names are data, quoted). */
const ident = (name: string) => `"${name.replace(/"/g, '""')}"`;

function investigate(
  input: Extract<FromTemplateInput, { template: 'investigate-documents' }>,
  collectionId: string,
  sheetId: string,
): WorkflowDefinitionInput {
  const amountOver = '3 * s.median_amount';
  return {
    description:
      'Documents → extraction sheet (typed fields, each with its citation) → anomaly queries → a findings report whose every finding links to its row and document page.',
    inputs: [{ name: 'subject', default: 'the documents' }],
    steps: [
      { id: 'documents', kind: 'import-documents', datasetId: collectionId },
      {
        id: 'extract',
        kind: 'extract',
        documentsDatasetId: collectionId,
        datasetId: sheetId,
        schema: INVOICE_SCHEMA,
        model: input.model,
        ...(input.provider ? { provider: input.provider } : {}),
        contextChars: input.contextChars,
        needs: ['documents'],
      },
      {
        id: 'totals',
        kind: 'sql',
        datasetId: sheetId,
        needs: ['extract'],
        sql: `select count(*) as documents, sum(amount) as total_amount, count(*) filter (where "Extraction status" <> 'ok') as needing_review from dataset`,
      },
      {
        id: 'anomalies',
        kind: 'sql',
        datasetId: sheetId,
        needs: ['extract'],
        sql: `with stats as (select median(amount) as median_amount from dataset where amount is not null),
repeated as (select vendor, invoice_number from dataset where invoice_number is not null group by 1, 2 having count(*) > 1)
select d."Document" as document, d.vendor, d.invoice_number, d.amount, d.currency,
  case when d.amount > ${amountOver} then 'amount over 3 times the median (' || s.median_amount || ')' else 'invoice number billed twice' end as finding,
  '[[row:${sheetId}/' || d._row_id || ']]' as evidence,
  '[[doc:' || d."Document id" || '#p' || coalesce(json_extract_string(d."Citations", '$.amount.page'), '1') || ']]' as source
from dataset d, stats s
where d.amount > ${amountOver}
  or exists (select 1 from repeated r where r.vendor = d.vendor and r.invoice_number = d.invoice_number)
order by d.amount desc, d.invoice_number`,
      },
      {
        id: 'summary',
        kind: 'llm',
        model: input.model,
        ...(input.provider ? { provider: input.provider } : {}),
        system:
          'You write short findings for an analyst. Use only the figures given; do not compute new ones. After each finding, copy the evidence and source references of its row exactly as given (they look like [[row:…]] and [[doc:…]]).',
        prompt:
          'Findings about {{inputs.subject}}:\n{{steps.anomalies.rows}}\n\nTotals:\n{{steps.totals.rows}}\n\nWrite one bullet per finding.',
      },
      {
        id: 'report',
        kind: 'report',
        title: 'Findings',
        markdown: `# Findings: {{inputs.subject}}

Documents in the collection: {{steps.extract.documents}} (extracted in this run: {{steps.extract.extracted}}, read in page chunks: {{steps.extract.mapReduced}}).
Total amount: {{steps.totals.rows.0.total_amount}} across {{steps.totals.rows.0.documents}} rows; {{steps.totals.rows.0.needing_review}} need a reviewer (a value without a verified quote).

## Anomalies ({{steps.anomalies.rowCount}})

{{steps.anomalies.rows}}

## Summary (written by the model; figures above are from SQL)

{{steps.summary.text}}
`,
      },
    ],
  };
}

/**
 * Makes what the template needs and returns the workflow's name and definition. The caller
 * saves it (checked like any definition).
 */
export async function buildFromTemplate(
  actor: Actor,
  projectId: string,
  input: FromTemplateInput,
  ports: TemplatePorts,
): Promise<{ name: string; definition: WorkflowDefinitionInput }> {
  switch (input.template) {
    case 'investigate-documents': {
      const collectionId =
        input.documentsDatasetId ??
        (input.sampleDocuments
          ? (await ports.sampleDocuments(actor, projectId)).datasetId
          : undefined);
      if (!collectionId)
        throw validationError('Name a documents collection, or ask for the sample documents', [
          { path: 'documentsDatasetId', message: 'required unless sampleDocuments is true' },
        ]);
      const collection = await ports.dataset(actor, projectId, collectionId);
      const sheet = await ports.createDataset(
        actor,
        projectId,
        `${collection.name} — extraction`.slice(0, 200),
        extractionColumns(INVOICE_SCHEMA),
      );
      return {
        name: input.name ?? `Investigate ${collection.name}`.slice(0, 200),
        definition: investigate(input, collectionId, sheet.id),
      };
    }
    case 'enrich-dataset': {
      const dataset = await ports.dataset(actor, projectId, input.datasetId);
      const column = await ports.createAiColumn(actor, projectId, input.datasetId, {
        name: input.columnName,
        prompt: input.prompt,
        model: input.model,
        provider: input.provider,
      });
      return {
        name: input.name ?? `Enrich ${dataset.name}`.slice(0, 200),
        definition: {
          description: `Fills the AI column "${column.name}" on the rows that lack it, then reports what was filled.`,
          steps: [
            {
              id: 'enrich',
              kind: 'ai-column',
              datasetId: input.datasetId,
              columnId: column.id,
              mode: 'missing',
            },
            {
              id: 'filled',
              kind: 'sql',
              datasetId: input.datasetId,
              needs: ['enrich'],
              sql: `select count(*) as rows, count(${ident(column.name)}) as filled from dataset`,
            },
            {
              id: 'report',
              kind: 'report',
              title: `Enriched ${dataset.name}`,
              markdown: `# ${column.name} on ${dataset.name}

Filled {{steps.filled.rows.0.filled}} of {{steps.filled.rows.0.rows}} rows ({{steps.enrich.done}} generated in this run, {{steps.enrich.errors}} errors).
Tokens: {{steps.enrich.inputTokens}} in, {{steps.enrich.outputTokens}} out; cost {{steps.enrich.costNano}} nano-USD.
`,
            },
          ],
        },
      };
    }
    case 'compare-models': {
      const dataset = await ports.dataset(actor, projectId, input.datasetId);
      const a = await ports.createAiColumn(actor, projectId, input.datasetId, {
        name: `A: ${input.modelA}`.slice(0, 200),
        prompt: input.prompt,
        model: input.modelA,
        provider: input.providerA,
      });
      const b = await ports.createAiColumn(actor, projectId, input.datasetId, {
        name: `B: ${input.modelB}`.slice(0, 200),
        prompt: input.prompt,
        model: input.modelB,
        provider: input.providerB,
      });
      // Per-cell latency from each AI-column step's own output (`latency`: what the column's
      // cells recorded, cache hits left out and counted apart), not from an SQL view of the
      // cells' state, whose `"<column>:state"` name a user column of that name would take.
      const row = (step: string, modelName: string) =>
        `| ${modelName.replace(/\|/g, '\\|')} | {{steps.${step}.done}} | {{steps.${step}.errors}} | {{steps.${step}.inputTokens}} | {{steps.${step}.outputTokens}} | {{steps.${step}.costNano}} | {{steps.${step}.durationMs}} | {{steps.${step}.latency.p50Ms}} | {{steps.${step}.latency.p95Ms}} | {{steps.${step}.latency.maxMs}} | {{steps.${step}.latency.timed}} | {{steps.${step}.latency.cacheHits}} |`;
      return {
        name: input.name ?? `Compare ${input.modelA} and ${input.modelB}`.slice(0, 200),
        definition: {
          description:
            'The same prompt with two models, side by side: answers, cost, run time and per-cell latency.',
          steps: [
            {
              id: 'model-a',
              kind: 'ai-column',
              datasetId: input.datasetId,
              columnId: a.id,
              mode: 'all',
              latency: true,
            },
            {
              id: 'model-b',
              kind: 'ai-column',
              datasetId: input.datasetId,
              columnId: b.id,
              mode: 'all',
              latency: true,
            },
            {
              id: 'agreement',
              kind: 'sql',
              datasetId: input.datasetId,
              needs: ['model-a', 'model-b'],
              sql: `select count(*) as rows, count(*) filter (where ${ident(a.name)} = ${ident(b.name)}) as same_answer from dataset`,
            },
            {
              id: 'report',
              kind: 'report',
              title: `${input.modelA} vs ${input.modelB}`,
              markdown: `# ${input.modelA} vs ${input.modelB} on ${dataset.name}

| model | cells | errors | input tokens | output tokens | cost (nano-USD) | run time (ms) | latency p50 (ms) | p95 (ms) | slowest (ms) | cells timed | cache hits |
| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |
${row('model-a', input.modelA)}
${row('model-b', input.modelB)}

Same answer on {{steps.agreement.rows.0.same_answer}} of {{steps.agreement.rows.0.rows}} rows.
Latency is per cell, over the cells the provider answered: cells answered from the response cache took no call and are left out (counted under "cache hits").
`,
            },
          ],
        },
      };
    }
  }
}
