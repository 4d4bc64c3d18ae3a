/**
 * Fills a step's template (`{{inputs.name}}`, `{{steps.id}}`, `{{steps.id.path.to.value}}`)
 * from the run's inputs and earlier steps' outputs. Text goes in as it is; a list of rows
 * becomes a Markdown table (at most 200 rows, cells escaped); anything else is JSON. The
 * result is data for a prompt or a report, never code: nothing here is evaluated.
 */
export const TEMPLATE_PATTERN =
  /\{\{\s*(inputs|steps)\.([A-Za-z0-9_-]+)(?:\.([A-Za-z0-9_.]+))?\s*\}\}/g;
const TABLE_ROWS = 200;

export function valueAt(value: unknown, path: string | undefined): unknown {
  if (!path) return value;
  let current = value;
  for (const key of path.split('.')) {
    // Own properties only: `__proto__` or `constructor` reach nothing.
    if (current === null || typeof current !== 'object' || !Object.hasOwn(current, key))
      return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

const cell = (value: unknown) =>
  (value === null || value === undefined
    ? ''
    : typeof value === 'object'
      ? JSON.stringify(value)
      : String(value)
  )
    .replace(/\|/g, '\\|')
    .replace(/\r?\n/g, ' ');

/** A list of row objects as a Markdown table; undefined for anything else. */
export function markdownTable(value: unknown): string | undefined {
  if (!Array.isArray(value) || value.length === 0) return undefined;
  if (!value.every((row) => row !== null && typeof row === 'object' && !Array.isArray(row)))
    return undefined;
  const rows = value as Record<string, unknown>[];
  const columns = [...new Set(rows.flatMap((row) => Object.keys(row)))];
  const lines = [
    `| ${columns.map(cell).join(' | ')} |`,
    `| ${columns.map(() => '---').join(' | ')} |`,
    ...rows
      .slice(0, TABLE_ROWS)
      .map((row) => `| ${columns.map((name) => cell(row[name])).join(' | ')} |`),
  ];
  if (rows.length > TABLE_ROWS) lines.push(`\n(${rows.length - TABLE_ROWS} more rows not shown)`);
  return lines.join('\n');
}

function asText(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return markdownTable(value) ?? JSON.stringify(value) ?? '';
}

export function renderTemplate(
  text: string,
  scope: { inputs: Record<string, string>; steps: Record<string, unknown> },
): string {
  return text.replace(TEMPLATE_PATTERN, (_match, kind: string, name: string, path?: string) =>
    asText(valueAt(kind === 'inputs' ? scope.inputs[name] : scope.steps[name], path)),
  );
}
