import { describe, expect, it } from 'vitest';
import type { CellValue } from '../sheet-schema.ts';
import {
  canonicalJson,
  displayTemplate,
  inputHashOf,
  renderTemplate,
  storeTemplate,
  templateInputs,
} from './prompt-template.ts';

const columns = [
  { id: '0195f1a0-0000-7000-8000-000000000001', name: 'City' },
  { id: '0195f1a0-0000-7000-8000-000000000002', name: 'Country Name' },
];
const [city, country] = columns.map((column) => column.id) as [string, string];

describe('prompt templates', () => {
  it.each([
    ['Describe {{City}}', `Describe {{#${city}}}`, [city]],
    ['{{ city }} in {{Country Name}}', `{{#${city}}} in {{#${country}}}`, [city, country]],
    ['{{City}} and {{CITY}} again', `{{#${city}}} and {{#${city}}} again`, [city]],
    ['No references at all', 'No references at all', []],
  ])('stores %j by column id', (text, stored, inputs) => {
    expect(storeTemplate(text, columns)).toEqual({ stored, inputs });
    expect(templateInputs(stored)).toEqual(inputs);
  });

  it('names every unknown column and the field', () => {
    expect(() => storeTemplate('{{Town}} {{Region}}', columns, 'search.query')).toThrow(
      /search.query refers to unknown columns: Town, Region/,
    );
  });

  it('cannot be tricked into referring by id', () => {
    expect(() => storeTemplate(`{{#${city}}}`, columns)).toThrow(/unknown columns/);
  });

  it('shows the current names after a rename, and marks deleted columns', () => {
    const { stored } = storeTemplate('{{City}} / {{Country Name}}', columns);
    const renamed = [{ id: city, name: 'Town' }];
    expect(displayTemplate(stored, renamed)).toBe('{{Town}} / {{deleted column}}');
  });

  it('renders values as text: strings as they are, JSON for objects, empty for null', () => {
    const { stored } = storeTemplate('[{{City}}] [{{Country Name}}]', columns);
    expect(renderTemplate(stored, { [city]: 'Oslo', [country]: null })).toBe('[Oslo] []');
    expect(
      renderTemplate(
        stored,
        new Map<string, CellValue>([
          [city, { a: 1 }],
          [country, 3],
        ]),
      ),
    ).toBe('[{"a":1}] [3]');
  });

  it('hashes inputs independently of key order, and differently for other values', () => {
    expect(canonicalJson({ b: 1, a: [{ d: 2, c: 3 }] })).toBe('{"a":[{"c":3,"d":2}],"b":1}');
    const a = inputHashOf([city, country], { [city]: 'Oslo', [country]: 'Norway' });
    const b = inputHashOf([city, country], { [country]: 'Norway', [city]: 'Oslo' });
    expect(a).toBe(b);
    expect(inputHashOf([city, country], { [city]: 'Oslo', [country]: 'Sweden' })).not.toBe(a);
    expect(inputHashOf([city], { [city]: null })).not.toBe(inputHashOf([city], { [city]: '' }));
  });
});
