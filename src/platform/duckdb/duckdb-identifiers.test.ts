import { describe, expect, it } from 'vitest';
import { identifierFor, quoteIdentifier } from './duckdb-identifiers.ts';

describe('identifiers', () => {
  it('builds names from our ids only', () => {
    expect(identifierFor('ds', '0190ab12-3456-7890-abcd-ef0123456789')).toBe(
      'ds_0190ab1234567890abcdef0123456789',
    );
  });

  it.each(['Robert"); drop table x;--', 'a b', '', '0190AB12-3456-7890-ABCD-EF0123456789', '../x'])(
    'refuses %j as an id',
    (id) => {
      expect(() => identifierFor('ds', id)).toThrow(TypeError);
    },
  );

  it.each(['x"y', 'Name', '1abc', 'a-b', 'a'.repeat(64), ''])('refuses to quote %j', (name) => {
    expect(() => quoteIdentifier(name)).toThrow(TypeError);
  });

  it('quotes a plain identifier', () => {
    expect(quoteIdentifier('ds_01')).toBe('"ds_01"');
  });
});
