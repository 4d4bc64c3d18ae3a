/**
 * The policy the preview's document carries from its first bytes: nothing may load — no
 * script, no request, no font, no frame — except inline styles and `data:` images. A policy
 * the HTML adds itself can only narrow it.
 */
export const PREVIEW_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'";

/** The preview's document: the policy first, then the cell's HTML as written. */
export const previewDocument = (html: string) =>
  `<!doctype html><html><head><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="${PREVIEW_CSP}"><meta name="referrer" content="no-referrer"></head><body>${html}</body></html>`;

/** Longest HTML previewed (the rest is cut): a 10 MB cell would stall the page. */
const PREVIEW_LIMIT = 200_000;

/**
 * A cell's HTML rendered as a page, isolated (docs/images.md "Rendering"): `sandbox` with no
 * keyword gives the document an opaque origin (no access to the app, its storage or cookies)
 * and turns off scripts, forms, popups, top navigation and meta refresh; the CSP in the
 * document forbids every request; `inert` keeps clicks and focus out, so no link in it can be
 * followed. The HTML is never parsed into the app's own document.
 */
export function HtmlPreview({ html, className }: { html: string; className: string }) {
  return (
    <iframe
      className={`html-preview ${className}`}
      title="HTML preview"
      sandbox=""
      srcDoc={previewDocument(html.slice(0, PREVIEW_LIMIT))}
      referrerPolicy="no-referrer"
      loading="lazy"
      inert
    />
  );
}
