import { Marked, type Tokens } from 'marked';
import { type SanitizedHtml, sanitizeHtml } from '../ui/markdown.ts';
import { CITATION_PATTERN, citationHref, citationText, parseCitation } from './report-citations.ts';

const escapeHtml = (text: string) =>
  text.replace(
    /[&<>"']/g,
    (char) =>
      ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[char] ?? char,
  );

interface CitationToken extends Tokens.Generic {
  type: 'citation';
  raw: string;
  inner: string;
}

const renderers = new Map<string, Marked>();

/**
 * A report's Markdown as sanitized HTML for this project. Stricter than cell Markdown
 * (ui/markdown.ts): raw HTML in the report — from a template, a document or a model — is shown
 * as text, never parsed; `[[doc:…]]` / `[[row:…]]` become links (class `citation`) and any other
 * `[[…]]` stays text. The result still goes through the app's sanitizer.
 */
export function renderReport(markdown: string, projectId: string): SanitizedHtml {
  let marked = renderers.get(projectId);
  if (!marked) {
    marked = new Marked({ gfm: true, breaks: false, async: false });
    marked.use({
      renderer: {
        html: (token: Tokens.HTML | Tokens.Tag) => escapeHtml(token.text),
        // A citation the report step already resolved is a Markdown link into this project:
        // it is a citation link too (opened in the app, not in a new tab).
        link(token: Tokens.Link) {
          if (!token.href.startsWith(`/projects/${projectId}/`)) return false;
          const text = this.parser.parseInline(token.tokens);
          return `<a class="citation" href="${escapeHtml(token.href)}">${text}</a>`;
        },
      },
      extensions: [
        {
          name: 'citation',
          level: 'inline',
          start: (source: string) => {
            const at = source.indexOf('[[');
            return at === -1 ? undefined : at;
          },
          tokenizer: (source: string): CitationToken | undefined => {
            const match = CITATION_PATTERN.exec(source);
            if (!match) return undefined;
            return { type: 'citation', raw: match[0], inner: match[1]! };
          },
          renderer: (token) => {
            const { inner, raw } = token as CitationToken;
            const citation = parseCitation(inner);
            if (!citation) return escapeHtml(raw);
            const title =
              citation.kind === 'doc'
                ? `Document ${citation.documentId}${citation.page ? `, page ${citation.page}` : ''}`
                : `Row ${citation.rowId} of dataset ${citation.datasetId}`;
            return `<a class="citation" href="${escapeHtml(citationHref(projectId, citation))}" title="${escapeHtml(title)}">${escapeHtml(citationText(citation))}</a>`;
          },
        },
      ],
    });
    renderers.set(projectId, marked);
  }
  return sanitizeHtml(marked.parse(markdown.slice(0, 500_000)) as string);
}
