/**
 * Citations in a findings report (issue #17 item 4): `[[doc:<document id>#p<page>]]` and
 * `[[row:<dataset id>/<row id>]]`, each optionally with a label after `|`. Anything else
 * between `[[` and `]]` is not a citation this page knows and is shown as the text it is, so a
 * syntax added later degrades to readable text instead of a broken link.
 */
export type Citation =
  | { kind: 'doc'; documentId: string; page: number | undefined; label: string | undefined }
  | { kind: 'row'; datasetId: string; rowId: string; label: string | undefined };

const UUID = '[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}';
const DOC = new RegExp(`^doc:(${UUID})(?:#p(?:age=)?(\\d{1,6}))?$`);
const ROW = new RegExp(`^row:(${UUID})[/#](\\d{1,18})$`);

/** The inside of `[[…]]`, or undefined when it is not a citation this page can link. */
export function parseCitation(inner: string): Citation | undefined {
  const bar = inner.indexOf('|');
  const target = (bar === -1 ? inner : inner.slice(0, bar)).trim();
  const rawLabel = bar === -1 ? '' : inner.slice(bar + 1).trim();
  const label = rawLabel === '' ? undefined : rawLabel.slice(0, 200);
  const doc = DOC.exec(target);
  if (doc) {
    const page = doc[2] === undefined ? undefined : Number(doc[2]);
    return {
      kind: 'doc',
      documentId: doc[1]!.toLowerCase(),
      page: page && page > 0 ? page : undefined,
      label,
    };
  }
  const row = ROW.exec(target);
  if (row) return { kind: 'row', datasetId: row[1]!.toLowerCase(), rowId: row[2]!, label };
  return undefined;
}

/** Where a citation opens in this app (same origin; ids are checked by the patterns above). */
export function citationHref(projectId: string, citation: Citation): string {
  const project = `/projects/${encodeURIComponent(projectId)}`;
  if (citation.kind === 'doc') {
    const query = new URLSearchParams({ document: citation.documentId });
    if (citation.page !== undefined) query.set('page', String(citation.page));
    return `${project}/documents?${query.toString()}`;
  }
  // `?row=`: the grid opens scrolled to the row, selected.
  return `${project}/datasets/${citation.datasetId}?row=${citation.rowId}`;
}

/** The text a citation shows when it has no label. */
export function citationText(citation: Citation): string {
  if (citation.label) return citation.label;
  if (citation.kind === 'doc') return citation.page ? `document, p. ${citation.page}` : 'document';
  return `row ${citation.rowId}`;
}

/** The `[[…]]` pattern the report renderer looks for (no brackets or new lines inside). */
export const CITATION_PATTERN = /^\[\[([^[\]\n]{1,500})\]\]/;
