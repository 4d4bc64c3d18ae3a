/** A document's pages: the `Page text` cell (a JSON list of strings), else the whole text. */
export function pagesOf(pageText: unknown, text: unknown): string[] {
  let pages: unknown = pageText;
  if (typeof pages === 'string') {
    try {
      pages = JSON.parse(pages);
    } catch {
      pages = undefined;
    }
  }
  if (Array.isArray(pages) && pages.length > 0) return pages.map((page) => String(page ?? ''));
  return typeof text === 'string' && text !== '' ? [text] : [];
}
