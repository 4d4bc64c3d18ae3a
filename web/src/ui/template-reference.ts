/** The `{{partial` being typed just before the caret, if any. */
export function openReference(
  text: string,
  caret: number,
): { start: number; query: string } | undefined {
  const before = text.slice(0, caret);
  const start = before.lastIndexOf('{{');
  if (start < 0) return undefined;
  const query = before.slice(start + 2);
  if (query.includes('}}') || query.includes('\n') || query.length > 200) return undefined;
  return { start, query };
}
