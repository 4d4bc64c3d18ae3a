import { memo, type ReactNode, useState } from 'react';
import type { Cell, Column } from '../api/sheet-api.ts';
import { ImageCell } from '../images/image-cell.tsx';
import { CellMarkdown } from './cell-markdown.tsx';
import { valueToText } from './clipboard-text.ts';
import { HtmlPreview } from './html-preview.tsx';

const IMAGE_URL =
  /^(https?:\/\/[^\s"'<>]+\.(?:png|jpe?g|gif|webp|avif|svg)(?:[?#][^\s"'<>]*)?|data:image\/(?:png|jpeg|gif|webp);base64,[A-Za-z0-9+/=]+)$/i;
/** Cells show at most this much text; the rest is one "expand" away. */
const DISPLAY_LIMIT = 400;

export const isImageUrl = (value: unknown): value is string =>
  typeof value === 'string' && value.length < 100_000 && IMAGE_URL.test(value.trim());
export const isLongText = (value: unknown) =>
  typeof value === 'string' && (value.length > 80 || value.includes('\n'));

const numberFormat = new Intl.NumberFormat(undefined, { maximumFractionDigits: 10 });

interface CellContentProps {
  cell: Cell | undefined;
  column: Column & { generating?: boolean };
  markdown: boolean;
  images: boolean;
  /** Text shown as an HTML preview in a sandboxed frame (html-preview.tsx). */
  html?: boolean;
  /** Search text: its case-insensitive matches are marked. */
  search?: string;
}

/** `text` with every case-insensitive occurrence of `search` in a <mark> (text nodes only). */
export function highlight(text: string, search: string | undefined): ReactNode {
  const needle = search?.trim().toLowerCase();
  if (!needle) return text;
  const haystack = text.toLowerCase();
  const parts: ReactNode[] = [];
  let from = 0;
  let at = haystack.indexOf(needle);
  // Lower-casing keeps lengths for the texts a search matches in practice; bail out if not.
  if (haystack.length !== text.length) return text;
  while (at !== -1 && parts.length < 200) {
    if (at > from) parts.push(text.slice(from, at));
    parts.push(
      <mark key={at} className="search-match">
        {text.slice(at, at + needle.length)}
      </mark>,
    );
    from = at + needle.length;
    at = haystack.indexOf(needle, from);
  }
  if (parts.length === 0) return text;
  if (from < text.length) parts.push(text.slice(from));
  return parts;
}

/**
 * What a cell shows. Every value is a React text node; markdown goes through the sanitizer
 * (ui/markdown.ts), its code highlighted as text spans; HTML previews render in a sandboxed
 * frame with no origin and no network; image URLs become <img> only for http(s) and base64
 * raster data.
 */
export const CellContent = memo(function CellContent({
  cell,
  column,
  markdown,
  images,
  html,
  search,
}: CellContentProps) {
  if (!cell) return null;
  if (cell.status === 'error') {
    return (
      <span className="cell-error-text" title={cell.error ?? ''}>
        <span aria-hidden="true">⚠ </span>
        {(cell.error ?? 'Error').slice(0, DISPLAY_LIMIT)}
      </span>
    );
  }
  if (cell.status === 'generating' && (cell.value === null || cell.value === '')) {
    return (
      <span className="cell-generating">
        <span className="visually-hidden">Generating</span>
      </span>
    );
  }
  if (
    cell.status === 'pending' &&
    cell.value === null &&
    column.kind === 'ai' &&
    !column.generating
  ) {
    // No run is on its way to this cell: say so (▶ in the active cell generates it).
    return <span className="cell-not-generated">Not generated</span>;
  }
  if (cell.status === 'pending' && cell.value === null) {
    return (
      <span className="cell-pending">
        <span aria-hidden="true">…</span>
        <span className="visually-hidden">Pending</span>
      </span>
    );
  }
  const value = cell.value;
  if (value === null || value === undefined) return null;
  switch (column.type) {
    case 'boolean':
      return (
        <span className={value ? 'bool-true' : 'bool-false'}>
          <span aria-hidden="true">{value ? '✓' : '✗'}</span>
          <span className="visually-hidden">{value ? 'true' : 'false'}</span>
        </span>
      );
    case 'integer':
    case 'number':
      return (
        <span className="num">
          {highlight(
            typeof value === 'number' ? numberFormat.format(value) : valueToText(value),
            search,
          )}
        </span>
      );
    case 'image':
      return <ImageCell value={value} />;
    case 'json':
      return (
        <code className="json-inline">
          {highlight(valueToText(value).slice(0, DISPLAY_LIMIT), search)}
        </code>
      );
    default: {
      const text = valueToText(value);
      if (images && isImageUrl(text)) return <Thumbnail url={text.trim()} />;
      if (html) return <HtmlPreview html={text} className="cell-html-preview" />;
      if (markdown) return <CellMarkdown text={text.slice(0, 4_000)} className="cell-markdown" />;
      return (
        <>
          {highlight(
            text.length > DISPLAY_LIMIT ? `${text.slice(0, DISPLAY_LIMIT)}…` : text,
            search,
          )}
        </>
      );
    }
  }
});

/**
 * An image-URL cell as a thumbnail. An image that does not load — broken, or refused by the
 * CSP when the server runs with BRAINCELLS_REMOTE_IMAGES=false — shows its URL as text.
 */
function Thumbnail({ url }: { url: string }) {
  const [failed, setFailed] = useState<string | undefined>(undefined);
  if (failed === url)
    return <>{url.length > DISPLAY_LIMIT ? `${url.slice(0, DISPLAY_LIMIT)}…` : url}</>;
  return (
    <img
      className="thumb"
      src={url}
      alt=""
      referrerPolicy="no-referrer"
      loading="lazy"
      decoding="async"
      onError={() => setFailed(url)}
    />
  );
}
