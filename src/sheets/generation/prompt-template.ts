import { createHash } from 'node:crypto';
import { validationError } from '../../platform/app-error.ts';
import {
  displayReferences,
  type ReferencedColumn,
  referencedColumnIds,
  replaceReferences,
  storeReferences,
} from '../column-refs.ts';
import { parseImageReference } from '../images/image-reference.ts';
import { imageText } from '../images/image-vision.ts';
import type { CellValue } from '../sheet-schema.ts';

/**
 * Prompt templates of AI columns: text with `{{Column Name}}` references, stored and shown in
 * the grammar of column-refs.ts (like formulas), so renaming a column rewrites every template
 * that uses it (it is shown back with the current name) and never changes the prompt hash: a
 * rename does not make cells stale.
 */
/** Longest text a single referenced value contributes to a prompt. */
export const MAX_RENDERED_VALUE = 100_000;

export type TemplateColumn = ReferencedColumn;

/** `{{Name}}` → `{{#id}}`; unknown names are a validation error naming them and the field. */
export function storeTemplate(
  text: string,
  columns: readonly TemplateColumn[],
  field = 'prompt',
): { stored: string; inputs: string[] } {
  const { stored, inputs, unknown } = storeReferences(text, columns);
  if (unknown.length > 0) {
    throw validationError(`${field} refers to unknown columns: ${unknown.join(', ')}`, [
      { path: field, message: `unknown column ${unknown[0]}` },
    ]);
  }
  return { stored, inputs };
}

/** `{{#id}}` → `{{Current Name}}`, for display and editing. */
export const displayTemplate = displayReferences;

/** Column ids a stored template refers to, in order of first use. */
export const templateInputs = referencedColumnIds;

/** A cell value as prompt text: strings as they are, JSON for objects, '' for empty. */
export function valueText(value: CellValue | undefined): string {
  if (value === null || value === undefined) return '';
  // An image cell reads as its name; its bytes go as an image part (images/image-vision.ts).
  const image = parseImageReference(value);
  if (image.ok) return imageText(image.reference);
  const text = typeof value === 'object' ? JSON.stringify(value) : String(value);
  return text.length > MAX_RENDERED_VALUE ? `${text.slice(0, MAX_RENDERED_VALUE)}…` : text;
}

/** Fills a stored template with one row's values (by column id). */
export function renderTemplate(
  stored: string,
  values: ReadonlyMap<string, CellValue> | Readonly<Record<string, CellValue>>,
): string {
  const get = (id: string) =>
    values instanceof Map ? values.get(id) : (values as Record<string, CellValue>)[id];
  return replaceReferences(stored, (id) => valueText(get(id)));
}

/** JSON with object keys sorted, so equal values always hash alike. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value ?? null);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, item]) => item !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`).join(',')}}`;
}

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** The hash of one row's inputs: the values of the referenced columns, by id. */
export function inputHashOf(
  inputs: readonly string[],
  values: ReadonlyMap<string, CellValue> | Readonly<Record<string, CellValue>>,
): string {
  const get = (id: string) =>
    values instanceof Map ? values.get(id) : (values as Record<string, CellValue>)[id];
  return sha256(canonicalJson(inputs.map((id) => [id, get(id) ?? null]))).slice(0, 32);
}
