import { createHash } from 'node:crypto';
import { createRandomSource } from './fake-llm-faults.ts';

/** A JSON Schema as sent by the providers' structured-output options (draft-07 / 2020-12). */
export type JsonSchema = { [keyword: string]: unknown } | boolean;

/** What the request asked the model to produce. */
export type AnswerMode =
  | { kind: 'text' }
  /** JSON as the message text (OpenAI `response_format`, Anthropic `output_config.format`). */
  | { kind: 'json'; schema: JsonSchema | undefined }
  /** A forced tool call whose arguments fit the tool's schema (Anthropic's structured output). */
  | { kind: 'tool'; toolName: string; schema: JsonSchema | undefined };

/** The provider-neutral part of a request: the text the model "reads". */
export interface PromptText {
  /** Text of the last user message; the answer is a pure function of it. */
  lastUserText: string;
  /** Every text part of the request (system, messages, tool results), in order. */
  texts: string[];
}

export interface Answer {
  kind: 'text' | 'tool';
  toolName: string | undefined;
  /** The message text, or the tool call's arguments as JSON text. */
  text: string;
  /** Stream chunks, one output token each; `pieces.join('') === text`. */
  pieces: string[];
  /** True when `maxTokens` cut the answer short. */
  truncated: boolean;
}

// 64 words, so one hash byte picks one word.
const wordList = [
  'amber basil cedar delta ember fjord garnet harbor',
  'indigo juniper kestrel lumen maple nectar onyx pepper',
  'quartz raven saffron tundra umber violet willow xenon',
  'yarrow zephyr acorn birch cobalt dune eclipse falcon',
  'glacier heron iris jasper kelp lotus meadow nimbus',
  'orchid pebble quill ridge sparrow thistle umbra valley',
  'walnut yonder zinnia anchor beacon canyon drift echo',
  'flint grove hollow islet jetty knoll lagoon mesa',
]
  .join(' ')
  .split(' ');

const echoLength = 60;
const answerWords = 8;

/** sha256 of the text, as bytes. Small and cheap enough to run once per request. */
function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/**
 * The text answer for a prompt: `echo: <first 60 chars, whitespace collapsed> | w1 … w8`, the
 * words picked by the sha256 of the raw prompt. Tests import this to know the expected text.
 */
export function fakeAnswer(lastUserText: string): string {
  const echo = lastUserText.replace(/\s+/g, ' ').trim().slice(0, echoLength);
  const hash = digest(lastUserText);
  const words: string[] = [];
  for (let index = 0; index < answerWords; index++) {
    words.push(wordList[(hash[index] ?? 0) % wordList.length] as string);
  }
  return ['echo:', ...(echo === '' ? [] : [echo]), '|', ...words].join(' ');
}

/** The JSON answer: a value that satisfies `schema`, or `{ "answer": fakeAnswer }` without one. */
export function fakeJson(lastUserText: string, schema: JsonSchema | undefined): unknown {
  if (schema === undefined) return { answer: fakeAnswer(lastUserText) };
  return exampleForSchema(schema, createRandomSource(lastUserText));
}

/** Input tokens: ceil(characters / 4) over every text part, at least 1. */
export function countInputTokens(texts: readonly string[]): number {
  let characters = 0;
  for (const text of texts) characters += text.length;
  return Math.max(1, Math.ceil(characters / 4));
}

/** Splits text into word tokens (`echo:`, ` hello`, …); leading/trailing space stays attached. */
export function splitWords(text: string): string[] {
  const pieces: string[] = text.match(/\s*\S+/g) ?? [];
  const covered = pieces.reduce((sum, piece) => sum + piece.length, 0);
  if (covered < text.length) {
    const rest = text.slice(covered);
    if (pieces.length === 0) pieces.push(rest);
    else pieces[pieces.length - 1] += rest;
  }
  return pieces;
}

/** Splits generated JSON into 4-character tokens (compact JSON has too few spaces for words). */
export function splitJson(text: string): string[] {
  const pieces: string[] = [];
  for (let index = 0; index < text.length; index += 4) pieces.push(text.slice(index, index + 4));
  return pieces;
}

/**
 * Builds the answer for a request. `output` (the `output=` control) replaces the generated text
 * in every mode and is split into words, so tests can force any text, valid JSON or not.
 */
export function buildAnswer(input: {
  prompt: PromptText;
  mode: AnswerMode;
  output: string | undefined;
  maxTokens: number | undefined;
}): Answer {
  const { prompt, mode, output, maxTokens } = input;
  let text: string;
  let pieces: string[];
  if (output !== undefined) {
    text = output;
    pieces = splitWords(output);
  } else if (mode.kind === 'text') {
    text = fakeAnswer(prompt.lastUserText);
    pieces = splitWords(text);
  } else {
    text = JSON.stringify(fakeJson(prompt.lastUserText, mode.schema));
    pieces = splitJson(text);
  }
  let truncated = false;
  if (maxTokens !== undefined && maxTokens >= 0 && pieces.length > maxTokens) {
    pieces = pieces.slice(0, maxTokens);
    text = pieces.join('');
    truncated = true;
  }
  return {
    kind: mode.kind === 'tool' ? 'tool' : 'text',
    toolName: mode.kind === 'tool' ? mode.toolName : undefined,
    text,
    pieces,
    truncated,
  };
}

// ---------------------------------------------------------------------------------------------
// JSON Schema → example value

const maxDepth = 6;

/**
 * A value satisfying a simple JSON Schema (object/properties/required, string with length and
 * common formats, number/integer with bounds, boolean, null, enum, const, array with item
 * counts, anyOf/oneOf/allOf, local $ref), drawing choices from `random`. `pattern` is ignored.
 */
export function exampleForSchema(schema: JsonSchema, random: () => number): unknown {
  return generate(schema, { root: schema, random, depth: 0, refs: 0 });
}

interface GenerateContext {
  root: JsonSchema;
  random: () => number;
  depth: number;
  refs: number;
}

function generate(input: JsonSchema, context: GenerateContext): unknown {
  if (input === true) return randomWords(context.random, 2);
  if (input === false) return null;
  const schema = withDescribedConstraints(input);
  if (schema.const !== undefined) return schema.const;
  if (Array.isArray(schema.enum) && schema.enum.length > 0) {
    return schema.enum[Math.floor(context.random() * schema.enum.length)];
  }
  if (typeof schema.$ref === 'string') {
    const target = context.refs < 32 ? resolveRef(context.root, schema.$ref) : undefined;
    if (target === undefined) return null;
    return generate(target, { ...context, refs: context.refs + 1 });
  }
  const choices = asSchemaList(schema.anyOf) ?? asSchemaList(schema.oneOf);
  if (choices && choices.length > 0) {
    const nonNull = choices.find((choice) => !(isObject(choice) && choice.type === 'null'));
    return generate(nonNull ?? (choices[0] as JsonSchema), context);
  }
  const parts = asSchemaList(schema.allOf);
  if (parts && parts.length > 0) return generate(mergeAllOf(schema, parts), context);

  switch (schemaType(schema)) {
    case 'object':
      return generateObject(schema, context);
    case 'array':
      return generateArray(schema, context);
    case 'integer':
      return generateNumber(schema, context.random, true);
    case 'number':
      return generateNumber(schema, context.random, false);
    case 'boolean':
      return context.random() < 0.5;
    case 'null':
      return null;
    default:
      return generateString(schema, context.random);
  }
}

const describedConstraint =
  /\b(exclusive minimum|exclusive maximum|minimum|maximum|multiple of|min length|max length|min items|max items): (-?\d+(?:\.\d+)?)/g;

/**
 * Some clients move constraints the provider rejects into the description: the AI SDK's
 * Anthropic provider turns `{minimum: 1, maximum: 3}` into `"minimum: 1; maximum: 3."`. A real
 * model reads and honours that text, so the fake does too.
 */
function withDescribedConstraints(schema: { [keyword: string]: unknown }) {
  if (typeof schema.description !== 'string' || !schema.description.includes(': ')) return schema;
  let result = schema;
  for (const [, name, value] of schema.description.matchAll(describedConstraint)) {
    const keyword = (name as string).replace(/ (\w)/g, (_, letter: string) => letter.toUpperCase());
    if (result[keyword] === undefined) result = { ...result, [keyword]: Number(value) };
  }
  return result;
}

function schemaType(schema: { [keyword: string]: unknown }): string {
  const type = schema.type;
  if (typeof type === 'string') return type;
  if (Array.isArray(type)) {
    const first = type.find((entry) => entry !== 'null') ?? type[0];
    if (typeof first === 'string') return first;
  }
  if (isObject(schema.properties) || Array.isArray(schema.required)) return 'object';
  if (schema.items !== undefined || schema.prefixItems !== undefined) return 'array';
  return 'string';
}

function generateObject(schema: { [keyword: string]: unknown }, context: GenerateContext): unknown {
  const properties = isObject(schema.properties) ? schema.properties : {};
  const required = Array.isArray(schema.required)
    ? schema.required.filter((name): name is string => typeof name === 'string')
    : [];
  // Deep in a recursive schema only required properties are filled, so generation ends.
  const names =
    context.depth >= maxDepth
      ? required
      : [
          ...Object.keys(properties),
          ...required.filter((name) => !Object.hasOwn(properties, name)),
        ];
  const child = { ...context, depth: context.depth + 1 };
  const value: Record<string, unknown> = {};
  for (const name of names) {
    const propertySchema = properties[name];
    value[name] = generate(isSchema(propertySchema) ? propertySchema : true, child);
  }
  return value;
}

function generateArray(schema: { [keyword: string]: unknown }, context: GenerateContext): unknown {
  const child = { ...context, depth: context.depth + 1 };
  const tuple = asSchemaList(schema.prefixItems) ?? asSchemaList(schema.items);
  const minItems = typeof schema.minItems === 'number' ? schema.minItems : 0;
  const maxItems = typeof schema.maxItems === 'number' ? schema.maxItems : Number.POSITIVE_INFINITY;
  const wanted = context.depth >= maxDepth ? minItems : Math.max(minItems, Math.min(2, maxItems));
  const itemSchema = tuple ? (isSchema(schema.items) ? schema.items : true) : schema.items;
  const values: unknown[] = [];
  // A tuple gets exactly its listed items (plus any minItems asks for), nothing extra.
  const count = tuple ? Math.max(minItems, tuple.length) : wanted;
  for (let index = 0; index < count; index++) {
    const entry = tuple && index < tuple.length ? tuple[index] : itemSchema;
    values.push(generate(isSchema(entry) ? entry : true, child));
  }
  return values;
}

function generateNumber(
  schema: { [keyword: string]: unknown },
  random: () => number,
  integer: boolean,
): number {
  const minimum = numberOr(schema.minimum, undefined);
  const maximum = numberOr(schema.maximum, undefined);
  const exclusiveMinimum = numberOr(schema.exclusiveMinimum, undefined);
  const exclusiveMaximum = numberOr(schema.exclusiveMaximum, undefined);
  let low = Math.max(
    minimum ?? Number.NEGATIVE_INFINITY,
    exclusiveMinimum ?? Number.NEGATIVE_INFINITY,
  );
  let high = Math.min(
    maximum ?? Number.POSITIVE_INFINITY,
    exclusiveMaximum ?? Number.POSITIVE_INFINITY,
  );
  if (!Number.isFinite(low) && !Number.isFinite(high)) [low, high] = [0, 100];
  else if (!Number.isFinite(low)) low = high - 100;
  else if (!Number.isFinite(high)) high = low + 100;
  const lowOpen = exclusiveMinimum !== undefined && low === exclusiveMinimum;
  const highOpen = exclusiveMaximum !== undefined && high === exclusiveMaximum;
  const step = numberOr(schema.multipleOf, integer ? 1 : undefined);
  if (step !== undefined && step > 0) {
    let first = Math.ceil(low / step);
    let last = Math.floor(high / step);
    if (lowOpen && first * step <= low) first += 1;
    if (highOpen && last * step >= high) last -= 1;
    if (last < first) return first * step;
    return (first + Math.floor(random() * (last - first + 1))) * step;
  }
  // Stay inside the middle half of the range, rounded to cents when that keeps it inside.
  const value = low + (high - low) * (0.25 + 0.5 * random());
  const rounded = Math.round(value * 100) / 100;
  return rounded > low && rounded < high ? rounded : (low + high) / 2;
}

const formats: Record<string, (random: () => number) => string> = {
  'date-time': (random) =>
    new Date(Date.UTC(2024, 0, 1 + Math.floor(random() * 365))).toISOString(),
  date: (random) =>
    new Date(Date.UTC(2024, 0, 1 + Math.floor(random() * 365))).toISOString().slice(0, 10),
  time: () => '12:00:00Z',
  email: (random) => `${randomWords(random, 1)}@example.com`,
  uri: (random) => `https://example.com/${randomWords(random, 1)}`,
  url: (random) => `https://example.com/${randomWords(random, 1)}`,
  hostname: (random) => `${randomWords(random, 1)}.example.com`,
  ipv4: (random) => `10.0.0.${1 + Math.floor(random() * 254)}`,
  uuid: (random) => {
    let hex = '';
    for (let index = 0; index < 32; index++) hex += Math.floor(random() * 16).toString(16);
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20)}`;
  },
};

function generateString(schema: { [keyword: string]: unknown }, random: () => number): string {
  const format = typeof schema.format === 'string' ? formats[schema.format] : undefined;
  let value = format ? format(random) : randomWords(random, 2);
  const minLength = numberOr(schema.minLength, 0) ?? 0;
  const maxLength = numberOr(schema.maxLength, undefined);
  if (value.length < minLength) value = value.padEnd(minLength, ' x');
  if (maxLength !== undefined && value.length > maxLength) value = value.slice(0, maxLength);
  return value;
}

function randomWords(random: () => number, count: number): string {
  const words: string[] = [];
  for (let index = 0; index < count; index++) {
    words.push(wordList[Math.floor(random() * wordList.length)] as string);
  }
  return words.join(' ');
}

function resolveRef(root: JsonSchema, ref: string): JsonSchema | undefined {
  if (!ref.startsWith('#')) return undefined;
  let node: unknown = root;
  for (const raw of ref.slice(1).split('/')) {
    if (raw === '') continue;
    const key = decodeURIComponent(raw).replaceAll('~1', '/').replaceAll('~0', '~');
    if (!isObject(node) || !Object.hasOwn(node, key)) return undefined;
    node = node[key];
  }
  return isSchema(node) ? node : undefined;
}

function mergeAllOf(schema: { [keyword: string]: unknown }, parts: JsonSchema[]): JsonSchema {
  const merged: { [keyword: string]: unknown } = { ...schema, allOf: undefined };
  const properties: Record<string, unknown> = isObject(schema.properties)
    ? { ...schema.properties }
    : {};
  const required = new Set<unknown>(Array.isArray(schema.required) ? schema.required : []);
  for (const part of parts) {
    if (!isObject(part)) continue;
    for (const [keyword, value] of Object.entries(part)) {
      if (keyword === 'properties' && isObject(value)) Object.assign(properties, value);
      else if (keyword === 'required' && Array.isArray(value))
        for (const name of value) required.add(name);
      else if (merged[keyword] === undefined) merged[keyword] = value;
    }
  }
  if (Object.keys(properties).length > 0) merged.properties = properties;
  if (required.size > 0) merged.required = [...required];
  delete merged.allOf;
  return merged;
}

function asSchemaList(value: unknown): JsonSchema[] | undefined {
  return Array.isArray(value) ? value.filter(isSchema) : undefined;
}

function isSchema(value: unknown): value is JsonSchema {
  return typeof value === 'boolean' || isObject(value);
}

function isObject(value: unknown): value is { [key: string]: unknown } {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function numberOr<T extends number | undefined>(value: unknown, fallback: T): number | T {
  return typeof value === 'number' && Number.isFinite(value) ? value : fallback;
}
