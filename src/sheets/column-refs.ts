/**
 * The one column-reference grammar of formulas and AI-column templates. Users write
 * `{{Column Name}}`; it is stored with each reference resolved to the column's id
 * (`{{#<uuid>}}`), so renaming a column never breaks a formula or a prompt (and never changes
 * a prompt's hash), and shown back with the current names. Every reading or rewriting of the
 * stored form goes through here: storing, display, inputs, substitution, remapping to copies.
 */

/** A reference as a user writes it: `{{Name}}` (spaces around the name are ignored). */
const WRITTEN_REFERENCE = /\{\{\s*([^{}]+?)\s*\}\}/g;
/** A reference as stored: `{{#<column id>}}`. */
const STORED_REFERENCE = /\{\{#([0-9a-f-]{36})\}\}/g;

/** Shown in place of a reference whose column was deleted. */
export const DELETED_COLUMN_NAME = 'deleted column';

export interface ReferencedColumn {
  id: string;
  name: string;
}

/** One stored reference. */
export const storedReference = (columnId: string) => `{{#${columnId}}}`;

/**
 * `{{Name}}` → `{{#id}}`, matching names case-insensitively. Unknown names are returned (and
 * their references dropped from `stored`) for the caller to refuse, naming its own field.
 */
export function storeReferences(
  text: string,
  columns: readonly ReferencedColumn[],
): { stored: string; inputs: string[]; unknown: string[] } {
  const byName = new Map(columns.map((column) => [column.name.toLowerCase(), column]));
  const inputs = new Set<string>();
  const unknown: string[] = [];
  const stored = text.replace(WRITTEN_REFERENCE, (_, name: string) => {
    const column = byName.get(name.trim().toLowerCase());
    if (!column) {
      unknown.push(name.trim());
      return '';
    }
    inputs.add(column.id);
    return storedReference(column.id);
  });
  return { stored, inputs: [...inputs], unknown };
}

/** `{{#id}}` → `{{Current Name}}`, for display and editing. */
export function displayReferences(stored: string, columns: readonly ReferencedColumn[]): string {
  const names = new Map(columns.map((column) => [column.id, column.name]));
  return replaceReferences(stored, (id) => `{{${names.get(id) ?? DELETED_COLUMN_NAME}}}`);
}

/** Column ids a stored text refers to, each once, in order of first use. */
export function referencedColumnIds(stored: string): string[] {
  return [...new Set([...stored.matchAll(STORED_REFERENCE)].map((match) => match[1]!))];
}

/** Replaces every stored reference with `replacement(columnId)` (SQL identifiers, values). */
export function replaceReferences(stored: string, replacement: (columnId: string) => string) {
  return stored.replace(STORED_REFERENCE, (_, id: string) => replacement(id));
}

/** Points stored references at other columns (a copied dataset's); unmapped ids stay. */
export function remapReferences(stored: string, columnIds: ReadonlyMap<string, string>): string {
  return replaceReferences(stored, (id) => storedReference(columnIds.get(id) ?? id));
}
