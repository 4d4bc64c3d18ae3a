import type { CellValue, ColumnType } from '../api/sheet-api.ts';

/** A cell value as the text a user sees, copies and edits. */
export function valueToText(value: CellValue | undefined): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/**
 * TSV as spreadsheets write it: fields with tabs, newlines or quotes are quoted, quotes
 * doubled (so a copied range pastes back into Excel, Sheets or this grid intact).
 */
export function toTsv(rows: readonly (readonly string[])[]): string {
  const field = (text: string) =>
    /[\t\n\r"]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
  return rows.map((row) => row.map(field).join('\t')).join('\n');
}

export function parseTsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let index = 0; index < text.length; index++) {
    const char = text[index]!;
    if (quoted) {
      if (char === '"' && text[index + 1] === '"') {
        field += '"';
        index++;
      } else if (char === '"') quoted = false;
      else field += char;
    } else if (char === '"' && field === '') quoted = true;
    else if (char === '\t') {
      row.push(field);
      field = '';
    } else if (char === '\n' || char === '\r') {
      if (char === '\r' && text[index + 1] === '\n') index++;
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else field += char;
  }
  if (field !== '' || row.length > 0) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}

export class ParseError extends Error {}

/** Text typed or pasted into a cell, as the value its column type takes (empty → null). */
export function textToValue(text: string, type: ColumnType): CellValue {
  const trimmed = text.trim();
  if (type === 'text') return text;
  if (trimmed === '') return null;
  switch (type) {
    case 'integer': {
      if (!/^[-+]?\d+$/.test(trimmed))
        throw new ParseError(`“${trimmed.slice(0, 40)}” is not a whole number`);
      return Number(trimmed);
    }
    case 'number': {
      const number = Number(trimmed.replace(/,/g, ''));
      if (!Number.isFinite(number))
        throw new ParseError(`“${trimmed.slice(0, 40)}” is not a number`);
      return number;
    }
    case 'boolean': {
      const lower = trimmed.toLowerCase();
      if (['true', 'yes', '1', '✓'].includes(lower)) return true;
      if (['false', 'no', '0', '✗'].includes(lower)) return false;
      throw new ParseError(`“${trimmed.slice(0, 40)}” is not true or false`);
    }
    case 'json':
    case 'image': {
      try {
        return JSON.parse(trimmed) as CellValue;
      } catch {
        throw new ParseError('Not valid JSON');
      }
    }
    default:
      return trimmed;
  }
}
