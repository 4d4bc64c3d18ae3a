import DOMPurify from 'dompurify';
import { Marked } from 'marked';

/** HTML that went through the sanitizer: the only kind SafeHtml will render. */
export type SanitizedHtml = string & { readonly __sanitized: true };

const marked = new Marked({ gfm: true, breaks: true, async: false });

const purifier = DOMPurify(window);
// Links open in a new tab without handing the page (or the referrer) to the target.
purifier.addHook('afterSanitizeAttributes', (node) => {
  if (node.tagName === 'A') {
    node.setAttribute('target', '_blank');
    node.setAttribute('rel', 'noopener noreferrer nofollow');
  }
  if (node.tagName === 'IMG') {
    node.setAttribute('referrerpolicy', 'no-referrer');
    node.setAttribute('loading', 'lazy');
  }
});

const CONFIG = {
  USE_PROFILES: { html: true },
  // No active content, no forms, no styles that could overlay the app.
  FORBID_TAGS: [
    'style',
    'script',
    'iframe',
    'frame',
    'object',
    'embed',
    'form',
    'input',
    'button',
    'textarea',
    'select',
    'option',
    'svg',
    'math',
    'base',
    'link',
    'meta',
    'template',
  ],
  FORBID_ATTR: ['style', 'srcset', 'action', 'formaction', 'xlink:href'],
  // Only web and mail links; javascript:, data:, vbscript: and the rest are dropped.
  ALLOWED_URI_REGEXP: /^(?:https?:|mailto:|#|\/(?!\/))/i,
  ALLOW_DATA_ATTR: false,
};

/** Sanitizes HTML: scripts, event handlers, styles and non-web URLs removed. */
export function sanitizeHtml(html: string): SanitizedHtml {
  return purifier.sanitize(html, CONFIG) as unknown as SanitizedHtml;
}

const cache = new Map<string, SanitizedHtml>();
const CACHE_LIMIT = 2_000;

/**
 * Markdown → HTML → sanitizer. Cached (LRU) because the grid renders the same visible cells on
 * every scroll frame. Text longer than `maxLength` is cut first: rendering a 10 MB cell
 * as markdown would stall the page.
 */
export function renderMarkdown(text: string, maxLength = 20_000): SanitizedHtml {
  const source = text.length > maxLength ? `${text.slice(0, maxLength)}…` : text;
  const hit = cache.get(source);
  if (hit !== undefined) {
    cache.delete(source);
    cache.set(source, hit);
    return hit;
  }
  const html = sanitizeHtml(marked.parse(source) as string);
  cache.set(source, html);
  if (cache.size > CACHE_LIMIT) cache.delete(cache.keys().next().value!);
  return html;
}

/**
 * Splits the reasoning some models write first (`<think>…</think>`, or an unclosed `<think>`
 * still streaming) from the answer: the answer is rendered, the reasoning shown as plain text
 * behind a toggle (issue 18 item 4).
 */
export function splitThinking(text: string): { thinking: string | undefined; answer: string } {
  const match = /^\s*<think>([\s\S]*?)(?:<\/think>|$)/i.exec(text);
  if (!match) return { thinking: undefined, answer: text };
  return { thinking: (match[1] ?? '').trim(), answer: text.slice(match[0].length).trimStart() };
}
