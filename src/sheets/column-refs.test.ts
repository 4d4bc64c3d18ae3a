import { describe, expect, it } from 'vitest';
import {
  displayReferences,
  referencedColumnIds,
  remapReferences,
  replaceReferences,
  storedReference,
  storeReferences,
} from './column-refs.ts';

const city = { id: '0190a000-0000-7000-8000-000000000001', name: 'City' };
const country = { id: '0190a000-0000-7000-8000-000000000002', name: 'Country Name' };
const columns = [city, country];

describe('column references', () => {
  it('stores names as ids, case-insensitively and ignoring spaces inside the braces', () => {
    const { stored, inputs, unknown } = storeReferences(
      'In {{ city }}, {{Country Name}} ({{CITY}})',
      columns,
    );
    expect(stored).toBe(`In {{#${city.id}}}, {{#${country.id}}} ({{#${city.id}}})`);
    expect(inputs).toEqual([city.id, country.id]);
    expect(unknown).toEqual([]);
  });

  it('returns unknown names and drops their references', () => {
    const { stored, inputs, unknown } = storeReferences('{{City}} {{Nope}} {{ Gone }}', columns);
    expect(stored).toBe(`{{#${city.id}}}  `);
    expect(inputs).toEqual([city.id]);
    expect(unknown).toEqual(['Nope', 'Gone']);
  });

  it('does not treat a user-written {{#id}} as a reference to some column by id', () => {
    // `{{#<id>}}` typed by a user is a name lookup like any other: no column is named that.
    const { unknown } = storeReferences(`{{#${city.id}}}`, columns);
    expect(unknown).toEqual([`#${city.id}`]);
  });

  it('displays stored references with current names, and deleted columns as such', () => {
    const stored = `${storedReference(city.id)} and {{#0190a000-0000-7000-8000-00000000dead}}`;
    expect(displayReferences(stored, [{ ...city, name: 'Town' }])).toBe(
      '{{Town}} and {{deleted column}}',
    );
  });

  it('round-trips: stored text displays as the written text, with canonical names', () => {
    const { stored } = storeReferences('upper({{city}}) || {{Country Name}}', columns);
    expect(displayReferences(stored, columns)).toBe('upper({{City}}) || {{Country Name}}');
  });

  it('lists referenced ids once, in order of first use', () => {
    const stored = `{{#${country.id}}}{{#${city.id}}}{{#${country.id}}}`;
    expect(referencedColumnIds(stored)).toEqual([country.id, city.id]);
    expect(referencedColumnIds('no references {{City}}')).toEqual([]);
  });

  it('replaces references and leaves other braces alone', () => {
    const stored = `{{#${city.id}}} {{literal}} {{#not-an-id}}`;
    expect(replaceReferences(stored, (id) => `<${id.slice(-1)}>`)).toBe(
      '<1> {{literal}} {{#not-an-id}}',
    );
  });

  it('remaps references to copied columns, leaving unmapped ids as they are', () => {
    const copyOfCity = '0190b000-0000-7000-8000-000000000001';
    const stored = `{{#${city.id}}}-{{#${country.id}}}`;
    expect(remapReferences(stored, new Map([[city.id, copyOfCity]]))).toBe(
      `{{#${copyOfCity}}}-{{#${country.id}}}`,
    );
  });
});
