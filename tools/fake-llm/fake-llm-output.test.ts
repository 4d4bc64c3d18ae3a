import { describe, expect, it } from 'vitest';
import { createRandomSource } from './fake-llm-faults.ts';
import {
  buildAnswer,
  countInputTokens,
  exampleForSchema,
  fakeAnswer,
  fakeJson,
  type JsonSchema,
  splitJson,
  splitWords,
} from './fake-llm-output.ts';

/** Just enough JSON Schema validation to check the generator against the subset it claims. */
function violations(
  value: unknown,
  schema: JsonSchema,
  root: JsonSchema = schema,
  at = '$',
): string[] {
  if (schema === true) return [];
  if (schema === false) return [`${at}: false schema`];
  if (typeof schema.$ref === 'string') {
    const name = schema.$ref.split('/').pop() as string;
    const defs = (root as Record<string, Record<string, JsonSchema>>).$defs ?? {};
    return violations(value, defs[name] as JsonSchema, root, at);
  }
  if ('const' in schema) return value === schema.const ? [] : [`${at}: not const`];
  if (Array.isArray(schema.enum)) return schema.enum.includes(value) ? [] : [`${at}: not in enum`];
  if (Array.isArray(schema.anyOf)) {
    const options = schema.anyOf as JsonSchema[];
    return options.some((option) => violations(value, option, root, at).length === 0)
      ? []
      : [`${at}: matches no anyOf option`];
  }
  const types = Array.isArray(schema.type) ? schema.type : [schema.type ?? typeOf(value)];
  const type = types.includes(typeOf(value)) ? typeOf(value) : undefined;
  if (type === undefined && !(types.includes('number') && typeOf(value) === 'integer')) {
    return [`${at}: ${typeOf(value)} is not ${types.join('|')}`];
  }
  const problems: string[] = [];
  if (typeof value === 'number') {
    if (typeof schema.minimum === 'number' && value < schema.minimum) problems.push(`${at}: < min`);
    if (typeof schema.maximum === 'number' && value > schema.maximum) problems.push(`${at}: > max`);
    if (typeof schema.exclusiveMinimum === 'number' && value <= schema.exclusiveMinimum) {
      problems.push(`${at}: ≤ exclusive min`);
    }
    if (typeof schema.exclusiveMaximum === 'number' && value >= schema.exclusiveMaximum) {
      problems.push(`${at}: ≥ exclusive max`);
    }
  }
  if (typeof value === 'string') {
    if (typeof schema.minLength === 'number' && value.length < schema.minLength) {
      problems.push(`${at}: too short`);
    }
    if (typeof schema.maxLength === 'number' && value.length > schema.maxLength) {
      problems.push(`${at}: too long`);
    }
    if (schema.format === 'date-time' && Number.isNaN(Date.parse(value))) {
      problems.push(`${at}: not a date-time`);
    }
    if (schema.format === 'email' && !/^[^@\s]+@[^@\s]+$/.test(value))
      problems.push(`${at}: email`);
  }
  if (Array.isArray(value)) {
    if (typeof schema.minItems === 'number' && value.length < schema.minItems) {
      problems.push(`${at}: too few items`);
    }
    if (typeof schema.maxItems === 'number' && value.length > schema.maxItems) {
      problems.push(`${at}: too many items`);
    }
    value.forEach((item, index) => {
      if (schema.items !== undefined) {
        problems.push(...violations(item, schema.items as JsonSchema, root, `${at}[${index}]`));
      }
    });
  }
  if (typeOf(value) === 'object') {
    const object = value as Record<string, unknown>;
    const properties = (schema.properties ?? {}) as Record<string, JsonSchema>;
    for (const name of (schema.required ?? []) as string[]) {
      if (!(name in object)) problems.push(`${at}.${name}: missing`);
    }
    for (const [name, propertyValue] of Object.entries(object)) {
      const propertySchema = properties[name];
      if (propertySchema !== undefined) {
        problems.push(...violations(propertyValue, propertySchema, root, `${at}.${name}`));
      } else if (schema.additionalProperties === false) {
        problems.push(`${at}.${name}: not allowed`);
      }
    }
  }
  return problems;
}

function typeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (Number.isInteger(value)) return 'integer';
  return typeof value;
}

describe('fakeAnswer', () => {
  it('echoes the start of the prompt and adds eight hash-picked words', () => {
    const answer = fakeAnswer('What is   the\ncapital of France?');
    expect(answer).toMatch(/^echo: What is the capital of France\? \| (\w+ ){7}\w+$/);
  });

  it('is a pure function of the prompt', () => {
    expect(fakeAnswer('same')).toBe(fakeAnswer('same'));
    expect(fakeAnswer('same')).not.toBe(fakeAnswer('different'));
  });

  it('cuts the echo at 60 characters and handles an empty prompt', () => {
    expect(fakeAnswer('x'.repeat(100))).toContain(`echo: ${'x'.repeat(60)} |`);
    expect(fakeAnswer('')).toMatch(/^echo: \| /);
  });
});

describe('token rules', () => {
  it.each([
    { texts: [], expected: 1 },
    { texts: ['abcd'], expected: 1 },
    { texts: ['abcde'], expected: 2 },
    { texts: ['system prompt', 'user text!'], expected: 6 },
  ])('input tokens of $texts = $expected', ({ texts, expected }) => {
    expect(countInputTokens(texts)).toBe(expected);
  });

  it.each([
    { text: 'echo: hello world', pieces: ['echo:', ' hello', ' world'] },
    { text: '  lead and trail  ', pieces: ['  lead', ' and', ' trail  '] },
    { text: '   ', pieces: ['   '] },
    { text: '', pieces: [] },
  ])('splitWords($text)', ({ text, pieces }) => {
    expect(splitWords(text)).toEqual(pieces);
    expect(splitWords(text).join('')).toBe(text);
  });

  it('splits JSON into four-character pieces', () => {
    expect(splitJson('{"a":12345}')).toEqual(['{"a"', ':123', '45}']);
  });
});

describe('buildAnswer', () => {
  const prompt = { lastUserText: 'Name a colour', texts: ['Name a colour'] };

  it('answers text with one piece per word', () => {
    const answer = buildAnswer({
      prompt,
      mode: { kind: 'text' },
      output: undefined,
      maxTokens: undefined,
    });
    expect(answer.text).toBe(fakeAnswer('Name a colour'));
    expect(answer.pieces.join('')).toBe(answer.text);
    expect(answer.pieces).toHaveLength(answer.text.split(' ').length);
  });

  it('truncates at maxTokens and says so', () => {
    const answer = buildAnswer({ prompt, mode: { kind: 'text' }, output: undefined, maxTokens: 3 });
    expect(answer).toMatchObject({ text: 'echo: Name a', truncated: true });
  });

  it('lets output= override JSON mode, even with text that is not JSON', () => {
    const answer = buildAnswer({
      prompt,
      mode: { kind: 'tool', toolName: 'json', schema: { type: 'object' } },
      output: 'not json',
      maxTokens: undefined,
    });
    expect(answer).toMatchObject({ kind: 'tool', toolName: 'json', text: 'not json' });
  });

  it('answers json_object mode with {"answer": …}', () => {
    expect(fakeJson('hi', undefined)).toEqual({ answer: fakeAnswer('hi') });
  });
});

describe('exampleForSchema', () => {
  const schemas: { name: string; schema: JsonSchema }[] = [
    {
      name: 'object with every simple type',
      schema: {
        type: 'object',
        properties: {
          title: { type: 'string', minLength: 3, maxLength: 12 },
          score: { type: 'number', minimum: 0.5, maximum: 0.75 },
          count: { type: 'integer', exclusiveMinimum: 10, exclusiveMaximum: 12 },
          done: { type: 'boolean' },
          mood: { enum: ['happy', 'sad'] },
          tags: { type: 'array', items: { type: 'string' }, minItems: 3, maxItems: 4 },
          nothing: { type: 'null' },
          fixed: { const: 'v1' },
        },
        required: ['title', 'score', 'count', 'done', 'mood', 'tags'],
        additionalProperties: false,
      },
    },
    {
      name: 'nullable union types and formats',
      schema: {
        type: 'object',
        properties: {
          when: { type: 'string', format: 'date-time' },
          email: { type: ['string', 'null'], format: 'email' },
          maybe: { anyOf: [{ type: 'null' }, { type: 'integer', minimum: 5, maximum: 5 }] },
        },
        required: ['when', 'email', 'maybe'],
      },
    },
    {
      name: 'recursive $ref terminates',
      schema: {
        $ref: '#/$defs/node',
        $defs: {
          node: {
            type: 'object',
            properties: {
              name: { type: 'string' },
              children: { type: 'array', items: { $ref: '#/$defs/node' } },
            },
            required: ['name'],
          },
        },
      },
    },
    {
      name: 'allOf merges properties',
      schema: {
        allOf: [
          { type: 'object', properties: { a: { type: 'integer' } }, required: ['a'] },
          { properties: { b: { type: 'boolean' } }, required: ['b'] },
        ],
      },
    },
    { name: 'top-level array', schema: { type: 'array', items: { enum: [1, 2, 3] }, maxItems: 1 } },
  ];

  it.each(schemas)('$name', ({ schema }) => {
    for (const seed of ['a', 'b', 'c', 'd']) {
      const value = exampleForSchema(schema, createRandomSource(seed));
      const flattened =
        typeof schema === 'object' && Array.isArray(schema.allOf)
          ? {
              type: 'object',
              properties: { a: { type: 'integer' }, b: { type: 'boolean' } },
              required: ['a', 'b'],
            }
          : schema;
      expect(violations(value, flattened)).toEqual([]);
    }
  });

  it('honours constraints a client moved into the description', () => {
    // What @ai-sdk/anthropic sends for z.number().int().min(1).max(3) and z.array().min(3).
    const schema: JsonSchema = {
      type: 'object',
      properties: {
        n: { type: 'integer', description: 'minimum: 1; maximum: 3.' },
        list: { type: 'array', items: { type: 'string' }, description: 'Things\nmin items: 3.' },
      },
      required: ['n', 'list'],
    };
    for (const seed of ['a', 'b', 'c', 'd', 'e']) {
      const value = exampleForSchema(schema, createRandomSource(seed)) as {
        n: number;
        list: string[];
      };
      expect([1, 2, 3]).toContain(value.n);
      expect(value.list.length).toBeGreaterThanOrEqual(3);
    }
  });

  it('is deterministic for a prompt', () => {
    const schema: JsonSchema = {
      type: 'object',
      properties: { n: { type: 'integer' }, s: { type: 'string' } },
    };
    expect(fakeJson('prompt', schema)).toEqual(fakeJson('prompt', schema));
  });
});
