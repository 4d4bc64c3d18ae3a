import path from 'node:path';

/** The kinds of document we extract text from (and images, kept without text). */
export const DOCUMENT_KINDS = ['pdf', 'docx', 'html', 'eml', 'text', 'markdown', 'image'] as const;
export type DocumentKind = (typeof DOCUMENT_KINDS)[number];

export interface Sniffed {
  kind: DocumentKind | undefined;
  /** The media type we serve the original with (never text/html or image/svg+xml inline). */
  mediaType: string;
  /** Why the file is not a supported document, when it is not. */
  reason?: string;
}

const startsWith = (bytes: Buffer, signature: number[], at = 0) =>
  signature.every((byte, index) => bytes[at + index] === byte);

const IMAGE_SIGNATURES: { test(head: Buffer): boolean; mediaType: string }[] = [
  {
    test: (head) => startsWith(head, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    mediaType: 'image/png',
  },
  { test: (head) => startsWith(head, [0xff, 0xd8, 0xff]), mediaType: 'image/jpeg' },
  { test: (head) => startsWith(head, [0x47, 0x49, 0x46, 0x38]), mediaType: 'image/gif' },
  {
    // RIFF....WEBP
    test: (head) =>
      startsWith(head, [0x52, 0x49, 0x46, 0x46]) && startsWith(head, [0x57, 0x45, 0x42, 0x50], 8),
    mediaType: 'image/webp',
  },
];

/** Valid UTF-8 (a BOM allowed) with no NUL byte: text we can read. */
function isText(head: Buffer): boolean {
  if (head.includes(0)) return false;
  // A multi-byte character cut at the end of the head is not an error.
  const decoder = new TextDecoder('utf-8', { fatal: true });
  try {
    decoder.decode(head, { stream: true });
    return true;
  } catch {
    return false;
  }
}

/**
 * What a file is, from its first bytes (at least 4 KiB when the file has them) and, for text
 * formats that have no signature, its extension. The client's media type is never trusted.
 * A ZIP is only a DOCX candidate here (extraction checks `word/document.xml`).
 */
export function sniffDocument(head: Buffer, fileName: string): Sniffed {
  const extension = path.extname(fileName).toLowerCase();
  if (startsWith(head, [0x25, 0x50, 0x44, 0x46, 0x2d]))
    return { kind: 'pdf', mediaType: 'application/pdf' };
  if (startsWith(head, [0x50, 0x4b, 0x03, 0x04])) {
    if (extension === '.docx')
      return {
        kind: 'docx',
        mediaType: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
      };
    return {
      kind: undefined,
      mediaType: 'application/zip',
      reason: 'A ZIP archive that is not a .docx document',
    };
  }
  for (const image of IMAGE_SIGNATURES)
    if (image.test(head)) return { kind: 'image', mediaType: image.mediaType };
  if (!isText(head))
    return {
      kind: undefined,
      mediaType: 'application/octet-stream',
      reason: 'Not a supported document type (binary content)',
    };
  const text = head
    .toString('utf8')
    .replace(/^\uFEFF/, '')
    .trimStart()
    .slice(0, 512)
    .toLowerCase();
  if (text.startsWith('<svg') || (text.startsWith('<?xml') && text.includes('<svg')))
    return {
      kind: undefined,
      mediaType: 'application/octet-stream',
      reason: 'SVG images are not accepted (they can carry script)',
    };
  if (
    ['.html', '.htm'].includes(extension) ||
    text.startsWith('<!doctype html') ||
    text.startsWith('<html')
  )
    return { kind: 'html', mediaType: 'text/plain; charset=utf-8' };
  if (
    extension === '.eml' ||
    /^(received|return-path|from|mime-version|message-id|delivered-to):/m.test(
      text.split('\n')[0] ?? '',
    )
  )
    return { kind: 'eml', mediaType: 'message/rfc822' };
  if (['.md', '.markdown'].includes(extension))
    return { kind: 'markdown', mediaType: 'text/plain; charset=utf-8' };
  return { kind: 'text', mediaType: 'text/plain; charset=utf-8' };
}
