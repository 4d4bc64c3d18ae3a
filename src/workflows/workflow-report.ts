import { Marked, type Tokens } from 'marked';
import { validationError } from '../platform/app-error.ts';
import type { StepEnvironment } from './workflow-steps.ts';

/**
 * Findings reports (docs/workflows.md, issue #17 item 4). A report's Markdown carries its
 * evidence as citations — `[[row:<datasetId>/<rowId>]]` for a row of a sheet,
 * `[[doc:<documentId>#p<page>]]` (or `[[doc:<documentId>]]`) for a document page — which are
 * resolved when the report is written: each becomes a link to what it names, and one that
 * names nothing (a row deleted, a page past the end, an id a model made up) is marked
 * unresolved, never shown as evidence. Exported as Markdown, or as HTML in which nothing the
 * report holds (document text, model output) can become markup: raw HTML is escaped and only
 * web, mail and in-app links survive.
 */
export const CITATION_PATTERN = /\[\[(row|doc):([^\]\n]{0,200})\]\]/g;
const ROW_REF =
  /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\/([1-9]\d{0,17})$/i;
const DOC_REF =
  /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})(?:#p([1-9]\d{0,5}))?$/i;
const MAX_CITATIONS = 2_000;

export type CitationRef =
  | { kind: 'row'; datasetId: string; rowId: string }
  | { kind: 'doc'; documentId: string; page: number | null };

export function parseCitation(kind: string, body: string): CitationRef | undefined {
  if (kind === 'row') {
    const match = ROW_REF.exec(body.trim());
    return match
      ? { kind: 'row', datasetId: match[1]!.toLowerCase(), rowId: match[2]! }
      : undefined;
  }
  const match = DOC_REF.exec(body.trim());
  return match
    ? {
        kind: 'doc',
        documentId: match[1]!.toLowerCase(),
        page: match[2] === undefined ? null : Number(match[2]),
      }
    : undefined;
}

export interface ResolvedCitation {
  ref: string;
  kind: 'row' | 'doc';
  valid: boolean;
  /** What the link says, e.g. `Invoices, row 12` or `invoice.pdf, p. 2`. */
  label: string | null;
  href: string | null;
  reason?: string;
}

/** Backslash-escapes what Markdown would read as markup in a label (names are user text). */
const markdownText = (text: string) =>
  text.replace(/[\\`*_[\]<>|~]/g, (char) => `\\${char}`).replace(/\s+/g, ' ');

export interface ReportOutput {
  title: string;
  markdown: string;
  citations: ResolvedCitation[];
  unresolved: number;
}

/** Resolves the citations of a rendered report (the `report` step). */
export async function writeReport(
  env: Pick<StepEnvironment, 'actor' | 'projectId' | 'ports'>,
  report: { stepId: string; title: string; markdown: string; strict: boolean },
): Promise<ReportOutput> {
  const { ports, actor, projectId } = env;
  const found = [...report.markdown.matchAll(CITATION_PATTERN)].slice(0, MAX_CITATIONS);
  const refs = new Map<string, CitationRef | undefined>();
  for (const match of found) refs.set(match[0], parseCitation(match[1]!, match[2]!));

  // Rows are checked per dataset in one read each; documents one by one (a report cites few).
  const rowsWanted = new Map<string, Set<string>>();
  for (const ref of refs.values())
    if (ref?.kind === 'row') {
      const set = rowsWanted.get(ref.datasetId) ?? new Set<string>();
      set.add(ref.rowId);
      rowsWanted.set(ref.datasetId, set);
    }
  const rows = new Map<string, { name: string; rowIds: Set<string> } | undefined>();
  for (const [datasetId, rowIds] of rowsWanted)
    rows.set(datasetId, await ports.findRows(actor, projectId, datasetId, [...rowIds]));
  const documents = new Map<string, { name: string; pages: number | null } | undefined>();
  for (const ref of refs.values())
    if (ref?.kind === 'doc' && !documents.has(ref.documentId))
      documents.set(ref.documentId, await ports.findDocument(actor, projectId, ref.documentId));

  const resolved = new Map<string, ResolvedCitation>();
  for (const [text, ref] of refs) {
    const kind = text.startsWith('[[row:') ? 'row' : 'doc';
    const base = { ref: text.slice(2, -2), kind } as const;
    if (!ref) {
      resolved.set(text, { ...base, valid: false, label: null, href: null, reason: 'malformed' });
      continue;
    }
    if (ref.kind === 'row') {
      const dataset = rows.get(ref.datasetId);
      resolved.set(
        text,
        !dataset
          ? { ...base, valid: false, label: null, href: null, reason: 'no such dataset' }
          : !dataset.rowIds.has(ref.rowId)
            ? { ...base, valid: false, label: null, href: null, reason: 'no such row' }
            : {
                ...base,
                valid: true,
                label: `${dataset.name}, row ${ref.rowId}`,
                href: `/projects/${projectId}/datasets/${ref.datasetId}?row=${ref.rowId}`,
              },
      );
      continue;
    }
    const document = documents.get(ref.documentId);
    // A format without pages (text, HTML, DOCX, e-mail) is one page: its text.
    const pages = document?.pages ?? 1;
    resolved.set(
      text,
      !document
        ? { ...base, valid: false, label: null, href: null, reason: 'no such document' }
        : ref.page !== null && ref.page > pages
          ? { ...base, valid: false, label: null, href: null, reason: `no page ${ref.page}` }
          : {
              ...base,
              valid: true,
              label: ref.page === null ? document.name : `${document.name}, p. ${ref.page}`,
              href: `/projects/${projectId}/documents?document=${ref.documentId}${ref.page === null ? '' : `&page=${ref.page}`}`,
            },
    );
  }
  const citations = [...resolved.values()];
  const unresolved = citations.filter((citation) => !citation.valid);
  if (report.strict && unresolved.length > 0)
    throw validationError(
      `Step "${report.stepId}": ${unresolved.length} citation(s) name nothing (${unresolved[0]!.ref}: ${unresolved[0]!.reason})`,
      unresolved
        .slice(0, 20)
        .map((citation) => ({ path: `citations.${citation.ref}`, message: citation.reason ?? '' })),
    );
  const markdown = report.markdown.replace(CITATION_PATTERN, (text) => {
    const citation = resolved.get(text);
    if (!citation?.valid) return '**[unresolved citation]**';
    return `[${markdownText(citation.label!)}](${citation.href})`;
  });
  return { title: report.title, markdown, citations, unresolved: unresolved.length };
}

const HTML_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};
export const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (char) => HTML_ESCAPES[char]!);

// Only web, mail, in-app paths and fragments; javascript:, data:, vbscript: and the rest are
// rendered as their text.
const SAFE_HREF = /^(?:https?:\/\/|mailto:|#|\/(?![/\\]))/i;

const marked = new Marked({ gfm: true, breaks: false, async: false });
marked.use({
  renderer: {
    // Raw HTML in the Markdown (from a document's text or a model's answer) is shown as text.
    html(token: Tokens.HTML | Tokens.Tag) {
      return escapeHtml(token.text);
    },
    link(token: Tokens.Link) {
      const text = this.parser.parseInline(token.tokens);
      if (!SAFE_HREF.test(token.href.trim())) return text;
      const title = token.title ? ` title="${escapeHtml(token.title)}"` : '';
      return `<a href="${escapeHtml(token.href.trim())}"${title} rel="noopener noreferrer nofollow">${text}</a>`;
    },
    // No images: a report loads nothing from elsewhere.
    image(token: Tokens.Image) {
      return escapeHtml(token.text);
    },
  },
});

/** A standalone HTML page of the report (served with a CSP that runs no script at all). */
export function reportHtml(report: { title: string; markdown: string }): string {
  const body = marked.parse(report.markdown) as string;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${escapeHtml(report.title)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:50rem;margin:2rem auto;padding:0 1rem;line-height:1.5}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.25rem .5rem}</style>
</head>
<body>
${body}
</body>
</html>
`;
}
