import { AppError, validationError } from '../../platform/app-error.ts';

export const IMPORT_FORMATS = ['csv', 'tsv', 'jsonl', 'json', 'parquet', 'xlsx'] as const;
export type ImportFormat = (typeof IMPORT_FORMATS)[number];
export type TextEncoding = 'utf-8' | 'utf-16' | 'latin-1';

/** What the first bytes say a file is, whatever its name claims. */
export type ContentKind = 'parquet' | 'zip' | 'json-array' | 'json-lines' | 'text' | 'binary';

const EXTENSION_FORMATS: Record<string, ImportFormat> = {
  csv: 'csv',
  txt: 'csv',
  tsv: 'tsv',
  tab: 'tsv',
  jsonl: 'jsonl',
  ndjson: 'jsonl',
  json: 'json',
  parquet: 'parquet',
  pq: 'parquet',
  xlsx: 'xlsx',
};

const BINARY_MAGIC: [string, number[]][] = [
  ['a gzip archive', [0x1f, 0x8b]],
  ['a PDF document', [0x25, 0x50, 0x44, 0x46]],
  ['a PNG image', [0x89, 0x50, 0x4e, 0x47]],
  ['a JPEG image', [0xff, 0xd8, 0xff]],
  ['an executable', [0x7f, 0x45, 0x4c, 0x46]],
  ['a 7-zip archive', [0x37, 0x7a, 0xbc, 0xaf]],
  ['an old Office document', [0xd0, 0xcf, 0x11, 0xe0]],
];

const startsWith = (head: Uint8Array, bytes: readonly number[]) =>
  bytes.every((byte, index) => head[index] === byte);

/** The encoding of a text file: BOMs first, then "is the head valid UTF-8?", else Latin-1. */
export function detectEncoding(head: Uint8Array): TextEncoding {
  if (startsWith(head, [0xff, 0xfe]) || startsWith(head, [0xfe, 0xff])) return 'utf-16';
  if (startsWith(head, [0xef, 0xbb, 0xbf])) return 'utf-8';
  // The head may end inside a multi-byte character: ignore up to 3 trailing bytes.
  for (let cut = 0; cut <= 3 && cut < head.length; cut++) {
    try {
      new TextDecoder('utf-8', { fatal: true }).decode(head.subarray(0, head.length - cut));
      return 'utf-8';
    } catch {
      // try a shorter prefix
    }
  }
  return 'latin-1';
}

/**
 * A file is binary when more than this share of its head is control bytes (not tab, line
 * feed, form feed, carriage return or escape), and there are more than a few: a NUL or two
 * inside a text field is text. Random (compressed) bytes are ~10% control bytes.
 */
export const BINARY_CONTROL_SHARE = 0.05;
const BINARY_CONTROL_MIN = 8;

export function isBinary(head: Uint8Array): boolean {
  let control = 0;
  for (const byte of head)
    if (byte < 0x20 && byte !== 9 && byte !== 10 && byte !== 12 && byte !== 13 && byte !== 27)
      control++;
  return control > BINARY_CONTROL_MIN && control / head.length > BINARY_CONTROL_SHARE;
}

export function contentKind(head: Uint8Array): { kind: ContentKind; described: string } {
  if (startsWith(head, [0x50, 0x41, 0x52, 0x31]))
    return { kind: 'parquet', described: 'a Parquet file' };
  if (startsWith(head, [0x50, 0x4b, 0x03, 0x04]))
    return { kind: 'zip', described: 'a ZIP archive' };
  for (const [described, magic] of BINARY_MAGIC)
    if (startsWith(head, magic)) return { kind: 'binary', described };
  const utf16 = startsWith(head, [0xff, 0xfe]) || startsWith(head, [0xfe, 0xff]);
  if (!utf16 && isBinary(head)) return { kind: 'binary', described: 'binary data' };
  const text = utf16
    ? new TextDecoder(head[0] === 0xff ? 'utf-16le' : 'utf-16be').decode(head.subarray(2))
    : new TextDecoder('latin1').decode(head);
  const trimmed = text.replace(/^\uFEFF|^ï»¿/, '').trimStart();
  if (trimmed.startsWith('[')) return { kind: 'json-array', described: 'a JSON array' };
  if (trimmed.startsWith('{')) return { kind: 'json-lines', described: 'JSON' };
  return { kind: 'text', described: 'text' };
}

export function extensionOf(displayName: string): string {
  const base = displayName.split(/[\\/]/).pop() ?? '';
  const dot = base.lastIndexOf('.');
  return dot <= 0 ? '' : base.slice(dot + 1).toLowerCase();
}

const AGREES: Record<ImportFormat, ContentKind[]> = {
  csv: ['text', 'json-lines', 'json-array'],
  tsv: ['text', 'json-lines', 'json-array'],
  jsonl: ['json-lines', 'json-array'],
  json: ['json-array', 'json-lines'],
  parquet: ['parquet'],
  xlsx: ['zip'],
};

/**
 * The format of an upload, from its content and its (client-supplied, display-only) name.
 * They must agree: a `.csv` that is really a ZIP is refused with 415, never parsed.
 */
export function sniffFormat(
  head: Uint8Array,
  size: number,
  displayName: string,
  override?: ImportFormat,
): { format: ImportFormat; encoding: TextEncoding } {
  if (size === 0 || head.length === 0)
    throw validationError('The file is empty', [{ path: 'file', message: 'empty' }]);
  const { kind, described } = contentKind(head);
  const extension = extensionOf(displayName);
  const claimed = override ?? EXTENSION_FORMATS[extension];
  if (extension !== '' && !EXTENSION_FORMATS[extension] && !override) {
    throw new AppError(
      'UNSUPPORTED_MEDIA_TYPE',
      `Files ending in .${extension.slice(0, 20)} cannot be imported`,
      {
        details: { supported: Object.keys(EXTENSION_FORMATS) },
      },
    );
  }
  if (kind === 'binary')
    throw new AppError(
      'UNSUPPORTED_MEDIA_TYPE',
      `The file looks like ${described}, which cannot be imported`,
    );
  if (claimed) {
    if (!AGREES[claimed].includes(kind)) {
      throw new AppError(
        'UNSUPPORTED_MEDIA_TYPE',
        `The file's content (${described}) does not match its format (${claimed})`,
        {
          details: { format: claimed, content: kind },
        },
      );
    }
    if (claimed === 'json' && kind === 'json-lines') return { format: 'jsonl', encoding: 'utf-8' };
    return {
      format: claimed,
      encoding: claimed === 'csv' || claimed === 'tsv' ? detectEncoding(head) : 'utf-8',
    };
  }
  switch (kind) {
    case 'parquet':
      return { format: 'parquet', encoding: 'utf-8' };
    case 'zip':
      return { format: 'xlsx', encoding: 'utf-8' };
    case 'json-array':
      return { format: 'json', encoding: 'utf-8' };
    case 'json-lines':
      return { format: 'jsonl', encoding: 'utf-8' };
    default:
      return { format: 'csv', encoding: detectEncoding(head) };
  }
}
