import { z } from 'zod';
import { validationError } from '../../platform/app-error.ts';
import { jsonValueDepth } from '../../platform/http/json-body.ts';
import type { OutputSpecView } from '../../shared/api-types.ts';
import { MAX_CELL_TEXT } from '../sheet-cells.ts';
import { type CellValue, type ColumnType, MAX_CELL_JSON_DEPTH } from '../sheet-schema.ts';

/**
 * What an AI column produces, and how every answer is checked before it becomes a value.
 * Structured types ask the provider for JSON `{ "value": … }` through its structured output
 * (the LLM module passes the schema on), and are validated here whatever the provider did:
 * an answer that does not fit becomes a cell error with the model's raw text kept. The wire
 * type is the domain record (image outputs come from an image model, images/image-generation.ts).
 */
export type OutputSpec = OutputSpecView;

export type OutputType = OutputSpec['type'];
export const OUTPUT_TYPES = ['text', 'number', 'boolean', 'category', 'json', 'image'] as const;

export function columnTypeFor(spec: OutputSpec): ColumnType {
  switch (spec.type) {
    case 'text':
    case 'category':
      return 'text';
    case 'number':
      return 'number';
    case 'boolean':
      return 'boolean';
    case 'json':
      return 'json';
    case 'image':
      return 'image';
  }
}

/** The JSON Schema sent as structured output; undefined for free text. */
export function outputSchemaFor(spec: OutputSpec): Record<string, unknown> | undefined {
  const wrap = (value: Record<string, unknown>) => ({
    type: 'object',
    properties: { value },
    required: ['value'],
    additionalProperties: false,
  });
  switch (spec.type) {
    case 'text':
    case 'image':
      return undefined;
    case 'number':
      return wrap({ type: 'number' });
    case 'boolean':
      return wrap({ type: 'boolean' });
    case 'category':
      return wrap({ type: 'string', enum: spec.categories });
    case 'json':
      return wrap(spec.schema);
  }
}

/** A line for the system prompt, so models without structured output answer in shape too. */
export function outputInstructions(spec: OutputSpec): string {
  switch (spec.type) {
    case 'text':
      return 'Answer with the cell value only: no preamble, no quotes, no explanation.';
    case 'number':
      return 'Answer with JSON {"value": <number>}.';
    case 'boolean':
      return 'Answer with JSON {"value": true} or {"value": false}.';
    case 'category':
      return `Answer with JSON {"value": <one of ${JSON.stringify(spec.categories)}>}.`;
    case 'json':
      return `Answer with JSON {"value": <a value matching this JSON Schema>}. Schema: ${JSON.stringify(spec.schema)}`;
    case 'image':
      return '';
  }
}

const validators = new WeakMap<object, z.ZodType>();

/** Compiles a user's JSON Schema once; refuses schemas we cannot check (validation error). */
export function compileJsonSchema(schema: Record<string, unknown>, field = 'output.schema') {
  const cached = validators.get(schema);
  if (cached) return cached;
  let validator: z.ZodType;
  try {
    validator = z.fromJSONSchema(schema as Parameters<typeof z.fromJSONSchema>[0]);
  } catch (error) {
    const message = error instanceof Error ? error.message : 'not a usable JSON Schema';
    throw validationError(`${field} is not a usable JSON Schema: ${message}`, [
      { path: field, message },
    ]);
  }
  validators.set(schema, validator);
  return validator;
}

export type ParsedAnswer =
  | { ok: true; value: CellValue }
  | { ok: false; error: string; raw: string };

function stripFences(text: string): string {
  const match = /^\s*```[a-zA-Z]*\s*\n?([\s\S]*?)\n?```\s*$/.exec(text);
  return (match ? match[1]! : text).trim();
}

/** The `value` of a structured answer: the parsed output, else the text parsed as JSON. */
function structuredValue(text: string, output: unknown): { found: boolean; value: unknown } {
  const fromObject = (candidate: unknown) =>
    candidate !== null &&
    typeof candidate === 'object' &&
    !Array.isArray(candidate) &&
    'value' in (candidate as Record<string, unknown>)
      ? { found: true, value: (candidate as Record<string, unknown>).value }
      : undefined;
  const direct = fromObject(output);
  if (direct) return direct;
  try {
    const parsed = JSON.parse(stripFences(text)) as unknown;
    return fromObject(parsed) ?? { found: true, value: parsed };
  } catch {
    return { found: false, value: undefined };
  }
}

/**
 * Checks one answer against the column's output type. `text` is what the model wrote (kept as
 * `raw` on failure); `output` is the provider's parsed structured output, when it gave one.
 */
export function parseAnswer(
  spec: OutputSpec,
  answer: { text: string; output: unknown },
): ParsedAnswer {
  const raw =
    answer.text !== '' || answer.output === undefined ? answer.text : JSON.stringify(answer.output);
  const fail = (error: string): ParsedAnswer => ({ ok: false, error, raw: raw.slice(0, 100_000) });
  if (spec.type === 'text') {
    const value = answer.text.trim();
    if (value === '') return fail('The model returned an empty answer');
    if (value.length > MAX_CELL_TEXT) return fail('The answer is too long for a cell');
    return { ok: true, value };
  }
  // Images never come back as text (images/image-generation.ts makes them).
  if (spec.type === 'image') return fail('An image column takes images, not text answers');
  const { found, value } = structuredValue(answer.text, answer.output);
  const plain = stripFences(answer.text);
  switch (spec.type) {
    case 'number': {
      const candidate = found ? value : plain;
      const number =
        typeof candidate === 'number'
          ? candidate
          : typeof candidate === 'string' &&
              /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(candidate.trim())
            ? Number(candidate.trim())
            : Number.NaN;
      return Number.isFinite(number)
        ? { ok: true, value: number }
        : fail('The answer is not a number');
    }
    case 'boolean': {
      const candidate = found ? value : plain;
      if (typeof candidate === 'boolean') return { ok: true, value: candidate };
      const word = typeof candidate === 'string' ? candidate.trim().toLowerCase() : '';
      if (word === 'true' || word === 'yes') return { ok: true, value: true };
      if (word === 'false' || word === 'no') return { ok: true, value: false };
      return fail('The answer is not true or false');
    }
    case 'category': {
      const candidate = found ? value : plain;
      const word = typeof candidate === 'string' ? candidate.trim().toLowerCase() : undefined;
      const match = spec.categories.find((category) => category.toLowerCase() === word);
      return match === undefined
        ? fail(
            `The answer is not one of the categories (${spec.categories.slice(0, 5).join(', ')}…)`,
          )
        : { ok: true, value: match };
    }
    case 'json': {
      if (!found) return fail('The answer is not valid JSON');
      // A model can nest deeper than anything walking the value (the schema, JSON.stringify)
      // can take; cells take MAX_CELL_JSON_DEPTH levels, as from the API.
      if (jsonValueDepth(value, MAX_CELL_JSON_DEPTH) > MAX_CELL_JSON_DEPTH)
        return fail(`The answer nests deeper than ${MAX_CELL_JSON_DEPTH} levels`);
      const result = compileJsonSchema(spec.schema).safeParse(value);
      if (!result.success) {
        const issue = result.error.issues[0];
        const where = issue?.path.length ? issue.path.join('.') : 'value';
        return fail(
          `The answer does not match the schema: ${where}: ${issue?.message ?? 'invalid'}`,
        );
      }
      const text = JSON.stringify(value);
      if (text === undefined || text.length > MAX_CELL_TEXT)
        return fail('The answer is too long for a cell');
      return { ok: true, value: value as CellValue };
    }
  }
}

/** How a value is shown to the model as an example answer (what we ask it to write). */
export function exampleAnswer(spec: OutputSpec, value: CellValue): string {
  if (spec.type === 'text') return typeof value === 'string' ? value : JSON.stringify(value);
  return JSON.stringify({ value });
}
