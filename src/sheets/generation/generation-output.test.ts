import { describe, expect, it } from 'vitest';
import {
  compileJsonSchema,
  type OutputSpec,
  outputSchemaFor,
  parseAnswer,
} from './generation-output.ts';

const spec = (type: OutputSpec['type'], extra: object = {}) => ({ type, ...extra }) as OutputSpec;
const category = spec('category', { categories: ['Positive', 'Negative', 'Neutral'] });
const json = spec('json', {
  schema: {
    type: 'object',
    properties: { name: { type: 'string' }, year: { type: 'integer', minimum: 1900 } },
    required: ['name', 'year'],
    additionalProperties: false,
  },
});

describe('output types', () => {
  it.each([
    [spec('text'), { text: '  Paris  ', output: undefined }, 'Paris'],
    [spec('number'), { text: '{"value": 42.5}', output: { value: 42.5 } }, 42.5],
    [spec('number'), { text: '17', output: undefined }, 17],
    [spec('boolean'), { text: '', output: { value: false } }, false],
    [spec('boolean'), { text: 'Yes', output: undefined }, true],
    [category, { text: '{"value":"negative"}', output: undefined }, 'Negative'],
    [
      json,
      { text: '```json\n{"value":{"name":"Ada","year":1950}}\n```', output: undefined },
      { name: 'Ada', year: 1950 },
    ],
  ])('accepts %j %j', (outputSpec, answer, value) => {
    expect(parseAnswer(outputSpec, answer)).toEqual({ ok: true, value });
  });

  it.each([
    [spec('text'), { text: '   ', output: undefined }, /empty/],
    [spec('number'), { text: 'about twelve', output: undefined }, /not a number/],
    [spec('boolean'), { text: '{"value":"maybe"}', output: undefined }, /true or false/],
    [category, { text: '{"value":"Mixed"}', output: undefined }, /not one of the categories/],
    [json, { text: '{"value":{"name":"Ada","year":1850}}', output: undefined }, /year/],
    [json, { text: '{"value":{"name":"Ada"', output: undefined }, /not valid JSON/],
  ])('refuses %j %j, keeping the raw text', (outputSpec, answer, error) => {
    const parsed = parseAnswer(outputSpec, answer);
    expect(parsed.ok).toBe(false);
    if (parsed.ok) return;
    expect(parsed.error).toMatch(error);
    expect(parsed.raw).toBe(answer.text);
  });

  it('refuses a JSON answer nested 100,000 deep as a cell error, not a crash', () => {
    const deep = `{"value":${'['.repeat(100_000)}${']'.repeat(100_000)}}`;
    const parsed = parseAnswer(spec('json', { schema: {} }), { text: deep, output: undefined });
    expect(parsed).toMatchObject({ ok: false, error: expect.stringMatching(/nests deeper/) });
  });

  it('asks for { value } with the type as structured output; nothing for text', () => {
    expect(outputSchemaFor(spec('text'))).toBeUndefined();
    expect(outputSchemaFor(category)).toEqual({
      type: 'object',
      properties: { value: { type: 'string', enum: ['Positive', 'Negative', 'Neutral'] } },
      required: ['value'],
      additionalProperties: false,
    });
  });

  it('refuses a JSON Schema it cannot check, naming the field', () => {
    expect(() => compileJsonSchema({ type: 'bogus' })).toThrow(
      /output.schema is not a usable JSON Schema/,
    );
  });
});
