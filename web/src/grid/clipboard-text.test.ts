import { describe, expect, it } from 'vitest';
import { ParseError, parseTsv, textToValue, toTsv, valueToText } from './clipboard-text.ts';

describe('TSV', () => {
  it('round-trips tabs, newlines and quotes', () => {
    const rows = [
      ['plain', 'with\ttab', 'multi\nline'],
      ['"quoted"', '', 'end'],
    ];
    expect(parseTsv(toTsv(rows))).toEqual(rows);
  });

  it('reads what spreadsheets put on the clipboard', () => {
    expect(parseTsv('a\tb\r\nc\td\r\n')).toEqual([
      ['a', 'b'],
      ['c', 'd'],
    ]);
  });
});

describe('textToValue', () => {
  it('types values by column type and refuses what does not fit', () => {
    expect(textToValue('42', 'integer')).toBe(42);
    expect(textToValue('1,234.5', 'number')).toBe(1234.5);
    expect(textToValue('yes', 'boolean')).toBe(true);
    expect(textToValue('', 'number')).toBeNull();
    expect(textToValue('{"a":1}', 'json')).toEqual({ a: 1 });
    expect(textToValue('  keep spaces ', 'text')).toBe('  keep spaces ');
    expect(() => textToValue('4.2', 'integer')).toThrow(ParseError);
  });

  it('shows objects as JSON text', () => {
    expect(valueToText({ a: [1] })).toBe('{"a":[1]}');
    expect(valueToText(null)).toBe('');
  });
});
