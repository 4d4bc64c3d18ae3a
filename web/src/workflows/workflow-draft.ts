import {
  type ExtractionSchema,
  STEP_KINDS,
  type StepKind,
  type WorkflowDefinition,
  type WorkflowStep,
} from './workflow-api.ts';

/**
 * The editor's form state and its mapping to and from a definition (docs/workflows.md). A
 * step's fields are kept as the strings the inputs hold, under the definition's own field
 * names (`datasetId`, `when.path`, …), so an error the API names `steps.2.when.path` lands on
 * the input whose key is `when.path` of step 2. A step kind this page has no form for (one
 * added to the server later) is kept as its JSON and edited as such.
 */
export interface StepDraft {
  /** React key: stays the same while steps are moved. */
  key: string;
  kind: StepKind | string;
  fields: Record<string, string>;
}

export interface WorkflowDraft {
  name: string;
  description: string;
  inputs: { key: string; name: string; default: string }[];
  steps: StepDraft[];
}

/** The field holding a step of an unknown kind as JSON. */
export const RAW_FIELD = 'json';

const COMMON = ['id', 'name', 'needs', 'retries', 'timeoutMs'] as const;

/** The fields of each kind's form, in the order they are shown. */
export const KIND_FIELDS: Record<StepKind, readonly string[]> = {
  'import-documents': ['datasetId'],
  'ai-column': ['datasetId', 'columnId', 'mode'],
  extract: [
    'documentsDatasetId',
    'datasetId',
    'provider',
    'model',
    'schema',
    'instructions',
    'mode',
    'concurrency',
    'contextChars',
  ],
  sql: ['datasetId', 'sql'],
  llm: ['agentId', 'provider', 'model', 'system', 'prompt'],
  branch: ['when.step', 'when.path', 'when.op', 'when.value', 'skipIfFalse'],
  approval: ['message'],
  report: ['title', 'markdown'],
  export: ['datasetId', 'reportStep', 'format'],
};

/** Fields left out of the definition when blank (the server's optional ones). */
const OPTIONAL_FIELDS: Partial<Record<StepKind, readonly string[]>> = {
  llm: ['agentId', 'provider', 'model', 'system'],
  export: ['datasetId', 'reportStep'],
  extract: ['provider', 'instructions', 'concurrency', 'contextChars'],
};

/** Fields sent as numbers when they read as one (else as typed, for the server to name). */
const NUMBER_FIELDS = new Set(['retries', 'timeoutMs', 'concurrency', 'contextChars']);

/** An extraction field's type as the form writes it: `date` is a string of format date. */
export const EXTRACTION_TYPES = ['string', 'date', 'number', 'integer', 'boolean'] as const;

/**
 * An `extract` step's fields as the form edits them: one per line, `name: type — description`
 * (the description is optional; `-` also separates it).
 */
export function schemaText(schema: ExtractionSchema | undefined): string {
  return Object.entries(schema?.properties ?? {})
    .map(
      ([name, field]) =>
        `${name}: ${field.format === 'date' ? 'date' : field.type}${field.description ? ` — ${field.description}` : ''}`,
    )
    .join('\n');
}

/**
 * The JSON Schema the lines stand for. A line without a type is a string field; a type the
 * server does not know is sent as written, so its 400 names the field
 * (`steps.N.schema.properties.<name>.type`).
 */
export function schemaOf(text: string): ExtractionSchema {
  const properties: Record<string, Record<string, string>> = {};
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const match = /^\s*([^:]+?)\s*(?::\s*([^\s—-]*)\s*)?(?:[—-]\s*(.*?))?\s*$/.exec(line);
    const name = match?.[1] ?? line.trim();
    const type = match?.[2] || 'string';
    const description = match?.[3];
    properties[name] = {
      ...(type === 'date' ? { type: 'string', format: 'date' } : { type }),
      ...(description ? { description } : {}),
    };
  }
  return { type: 'object', properties } as ExtractionSchema;
}

export const isKnownKind = (kind: string): kind is StepKind =>
  (STEP_KINDS as readonly string[]).includes(kind);

let counter = 0;
export const newKey = () => `k${++counter}`;

export function emptyStep(kind: StepKind, existingIds: readonly string[]): StepDraft {
  let n = 1;
  const base = kind === 'import-documents' ? 'documents' : kind === 'ai-column' ? 'extract' : kind;
  while (existingIds.includes(n === 1 ? base : `${base}-${n}`)) n += 1;
  const fields: Record<string, string> = { id: n === 1 ? base : `${base}-${n}` };
  if (kind === 'ai-column' || kind === 'extract') fields.mode = 'missing';
  if (kind === 'extract') fields.schema = 'vendor: string\ndate: date\ntotal: number';
  if (kind === 'branch') fields['when.op'] = 'truthy';
  if (kind === 'export') fields.format = 'csv';
  return { key: newKey(), kind, fields };
}

export function emptyDraft(): WorkflowDraft {
  return { name: '', description: '', inputs: [], steps: [emptyStep('report', [])] };
}

const text = (value: unknown) =>
  value === undefined || value === null ? '' : typeof value === 'string' ? value : String(value);

export function draftOf(name: string, definition: WorkflowDefinition): WorkflowDraft {
  return {
    name,
    description: definition.description ?? '',
    inputs: (definition.inputs ?? []).map((input) => ({
      key: newKey(),
      name: input.name,
      default: input.default ?? '',
    })),
    steps: definition.steps.map((step) => stepDraftOf(step)),
  };
}

function stepDraftOf(step: WorkflowStep): StepDraft {
  if (!isKnownKind(step.kind)) {
    return {
      key: newKey(),
      kind: step.kind,
      fields: { [RAW_FIELD]: JSON.stringify(step, null, 2) },
    };
  }
  const source = step as unknown as Record<string, unknown>;
  const fields: Record<string, string> = {};
  for (const field of [...COMMON, ...KIND_FIELDS[step.kind]]) {
    const value = field.startsWith('when.')
      ? (source.when as Record<string, unknown> | undefined)?.[field.slice(5)]
      : source[field];
    if (field === 'schema') fields[field] = schemaText(value as ExtractionSchema | undefined);
    else if (field === 'when.value' && value === null) fields[field] = 'null';
    else fields[field] = Array.isArray(value) ? value.join(', ') : text(value);
  }
  return { key: newKey(), kind: step.kind, fields };
}

/** A comparison value as typed: numbers, true/false and null become those; the rest text. */
export function comparisonValue(raw: string): string | number | boolean | null | undefined {
  const value = raw.trim();
  if (value === '') return undefined;
  if (/^-?\d+(\.\d+)?$/.test(value)) return Number(value);
  if (value === 'true' || value === 'false') return value === 'true';
  if (value === 'null') return null;
  return raw;
}

const list = (raw: string | undefined) =>
  (raw ?? '')
    .split(/[\s,]+/)
    .map((item) => item.trim())
    .filter(Boolean);

/**
 * The definition a draft stands for. Values are passed on as typed, never "fixed": a wrong
 * number stays wrong so the server names it (a blank number is left out, taking the default).
 */
export function definitionOf(draft: WorkflowDraft): WorkflowDefinition {
  return {
    description: draft.description,
    inputs: draft.inputs.map((input) => ({
      name: input.name.trim(),
      ...(input.default !== '' ? { default: input.default } : {}),
    })),
    steps: draft.steps.map(stepOf),
  };
}

/** Fields holding an id or a format, sent without surrounding blanks. */
const ID_FIELDS = new Set([
  'datasetId',
  'documentsDatasetId',
  'columnId',
  'agentId',
  'reportStep',
  'format',
]);

function stepOf(draft: StepDraft): WorkflowStep {
  if (!isKnownKind(draft.kind)) {
    try {
      return JSON.parse(draft.fields[RAW_FIELD] ?? '{}') as WorkflowStep;
    } catch {
      // Sent as it is: the server answers 400 naming this step.
      return { kind: draft.kind } as unknown as WorkflowStep;
    }
  }
  const fields = draft.fields;
  const step: Record<string, unknown> = { id: (fields.id ?? '').trim(), kind: draft.kind };
  const optional = (name: string, value: unknown) => {
    if (value !== undefined && value !== '') step[name] = value;
  };
  optional('name', fields.name?.trim());
  const needs = list(fields.needs);
  if (needs.length > 0) step.needs = needs;
  for (const name of ['retries', 'timeoutMs'] as const) {
    const raw = fields[name]?.trim();
    if (raw) step[name] = /^-?\d+(\.\d+)?$/.test(raw) ? Number(raw) : raw;
  }
  switch (draft.kind) {
    case 'branch':
      step.when = {
        step: (fields['when.step'] ?? '').trim(),
        path: (fields['when.path'] ?? '').trim(),
        op: fields['when.op'] || 'truthy',
        ...(comparisonValue(fields['when.value'] ?? '') !== undefined
          ? { value: comparisonValue(fields['when.value'] ?? '') }
          : {}),
      };
      step.skipIfFalse = list(fields.skipIfFalse);
      break;
    default:
      for (const name of KIND_FIELDS[draft.kind]) {
        const raw = fields[name] ?? '';
        if (name === 'schema') {
          step.schema = schemaOf(raw);
          continue;
        }
        const trimmed = raw.trim();
        const value = ID_FIELDS.has(name)
          ? trimmed
          : NUMBER_FIELDS.has(name) && /^-?\d+(\.\d+)?$/.test(trimmed)
            ? Number(trimmed)
            : NUMBER_FIELDS.has(name)
              ? trimmed
              : raw;
        if (OPTIONAL_FIELDS[draft.kind]?.includes(name)) optional(name, value);
        else step[name] = value;
      }
  }
  return step as unknown as WorkflowStep;
}

/**
 * Where an API validation issue belongs: its path without the request part (`body.`,
 * `definition.`), e.g. `body.definition.steps.2.kind` → `steps.2.kind`, `inputs.region`.
 */
export function fieldPath(path: string): string {
  return path.replace(/^body\./, '').replace(/^definition\./, '');
}

/** The issues of a 400 by field path (first message per field wins). */
export function issuesByField(
  issues: readonly { path: string; message: string }[],
): Map<string, string> {
  const byField = new Map<string, string>();
  for (const issue of issues) {
    const path = fieldPath(issue.path);
    if (!byField.has(path)) byField.set(path, issue.message);
  }
  return byField;
}

/**
 * The issue for a step's field. Issues about a whole step (`steps.2`, `steps.2.kind`) or a
 * field a form does not show are returned by `stepIssue`.
 */
export function stepFieldIssue(
  issues: Map<string, string>,
  index: number,
  field: string,
): string | undefined {
  const path = `steps.${index}.${field}`;
  for (const [where, message] of issues) {
    if (where === path) return message;
    if (where.startsWith(`${path}.`)) {
      const rest = where.slice(path.length + 1);
      return /^\d+$/.test(rest) ? `entry ${Number(rest) + 1}: ${message}` : `${rest}: ${message}`;
    }
  }
  return undefined;
}

export function stepIssue(
  issues: Map<string, string>,
  index: number,
  shown: readonly string[],
): string | undefined {
  const prefix = `steps.${index}`;
  for (const [path, message] of issues) {
    if (path === prefix) return message;
    if (!path.startsWith(`${prefix}.`)) continue;
    const field = path.slice(prefix.length + 1);
    if (!shown.some((name) => field === name || field.startsWith(`${name}.`)))
      return `${field}: ${message}`;
  }
  return undefined;
}

export const shownFields = (kind: string): readonly string[] =>
  isKnownKind(kind) ? [...COMMON, ...KIND_FIELDS[kind]] : [RAW_FIELD];
