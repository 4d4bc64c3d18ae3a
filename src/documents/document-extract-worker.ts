// The worker thread document-extract.ts runs for one document: hostile files (PDF, DOCX, HTML,
// e-mail) are parsed here, under the thread's heap limit and the caller's deadline, never in
// the server's own heap. Input: { file, kind, maxPages, maxChars } in workerData; output: one
// message with the Extracted result.
import { readFile } from 'node:fs/promises';
import { parentPort, workerData } from 'node:worker_threads';
import { checkZipInflatedSize } from '../platform/zip.ts';
import type { Extracted } from './document-extract.ts';
import type { DocumentKind } from './document-sniff.ts';

interface Input {
  file: string;
  kind: DocumentKind;
  maxPages: number;
  maxChars: number;
  maxUnpackedBytes: number;
}

const { file, kind, maxPages, maxChars, maxUnpackedBytes } = workerData as Input;

/** Whitespace runs folded, lines kept. */
const tidy = (text: string) =>
  text
    .replace(/\r\n?/g, '\n')
    .replace(/[ \t\f\v\u00a0]+/g, ' ')
    .replace(/ *\n */g, '\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();

function result(pages: string[] | null, text: string, empty: string): Extracted {
  const cut = text.length > maxChars;
  const kept = cut ? text.slice(0, maxChars) : text;
  if (!kept.trim()) return { status: 'no-text', message: empty, pages, text: '' };
  return {
    status: 'ready',
    ...(cut ? { message: `The text was cut at ${maxChars.toLocaleString('en')} characters` } : {}),
    pages,
    text: kept,
  };
}

async function pdf(data: Uint8Array): Promise<Extracted> {
  const { getDocumentProxy } = await import('unpdf');
  let document: Awaited<ReturnType<typeof getDocumentProxy>>;
  try {
    document = await getDocumentProxy(data, {
      // This pdf.js has no eval path for fonts; no font faces, no system fonts.
      disableFontFace: true,
      useSystemFonts: false,
      verbosity: 0,
    });
  } catch (error) {
    const name = (error as { name?: string }).name;
    if (name === 'PasswordException')
      return {
        status: 'encrypted',
        message: 'The PDF is password-protected; remove the password and upload it again',
        pages: null,
        text: '',
      };
    return {
      status: 'corrupt',
      message: `Not a readable PDF (${(error as Error).message})`,
      pages: null,
      text: '',
    };
  }
  try {
    const count = Math.min(document.numPages, maxPages);
    const pages: string[] = [];
    let chars = 0;
    for (let number = 1; number <= count && chars <= maxChars; number++) {
      const page = await document.getPage(number);
      const content = await page.getTextContent();
      const text = tidy(
        content.items
          .map((item) => ('str' in item ? `${item.str}${item.hasEOL ? '\n' : ' '}` : ''))
          .join(''),
      );
      page.cleanup();
      pages.push(text);
      chars += text.length;
    }
    const extracted = result(pages, pages.join('\n\n'), 'No text layer — OCR is off');
    if (document.numPages > count && extracted.status === 'ready')
      extracted.message = `Only the first ${count.toLocaleString('en')} of ${document.numPages.toLocaleString('en')} pages were read`;
    return extracted;
  } finally {
    await document.cleanup();
  }
}

async function docx(buffer: Buffer): Promise<Extracted> {
  const mammoth = await import('mammoth');
  try {
    // The parsers below unpack into memory the heap limit does not count (ArrayBuffers).
    checkZipInflatedSize(buffer, maxUnpackedBytes);
  } catch (error) {
    return {
      status: 'failed',
      message: `The .docx document was not read: ${(error as Error).message}`,
      pages: null,
      text: '',
    };
  }
  try {
    const { value } = await mammoth.extractRawText({ buffer });
    return result(null, tidy(value), 'The document has no text');
  } catch (error) {
    return {
      status: 'corrupt',
      message: `Not a readable .docx document (${(error as Error).message.slice(0, 200)})`,
      pages: null,
      text: '',
    };
  }
}

/** The readable text of a page: Readability's article, else the body's text; no script. */
async function html(source: string): Promise<string> {
  const { parseHTML } = await import('linkedom');
  const { Readability } = await import('@mozilla/readability');
  // linkedom does not add the html and body elements a browser would: a fragment gets them.
  const { document } = parseHTML(
    /<html[\s>]/i.test(source) ? source : `<!doctype html><html><body>${source}</body></html>`,
  );
  for (const element of document.querySelectorAll('script, style, noscript, template'))
    element.remove();
  const titleElement = document.querySelector('title');
  const title = titleElement?.textContent?.trim() ?? '';
  titleElement?.remove();
  const body = document.body?.textContent ?? document.documentElement?.textContent ?? '';
  let article: string | undefined;
  try {
    article =
      new Readability(document as unknown as ConstructorParameters<typeof Readability>[0]).parse()
        ?.textContent ?? undefined;
  } catch {
    article = undefined;
  }
  const text = tidy(article && article.trim().length > 0 ? article : body);
  return title && !text.startsWith(title) ? `${title}\n\n${text}` : text;
}

async function eml(buffer: Buffer): Promise<Extracted> {
  const { simpleParser } = await import('mailparser');
  const mail = await simpleParser(buffer, { skipImageLinks: true, skipTextToHtml: true });
  const address = (value: typeof mail.from | typeof mail.to) =>
    (Array.isArray(value) ? value : value ? [value] : []).map((entry) => entry.text).join(', ');
  const header = [
    mail.subject ? `Subject: ${mail.subject}` : '',
    mail.from ? `From: ${address(mail.from)}` : '',
    mail.to ? `To: ${address(mail.to)}` : '',
    mail.date ? `Date: ${mail.date.toISOString()}` : '',
    mail.attachments.length
      ? `Attachments: ${mail.attachments.map((item) => item.filename ?? '(unnamed)').join(', ')}`
      : '',
  ]
    .filter(Boolean)
    .join('\n');
  const body = mail.text ?? (mail.html ? await html(mail.html) : '');
  return result(null, tidy(`${header}\n\n${body}`), 'The e-mail has no text');
}

async function extract(): Promise<Extracted> {
  if (kind === 'image')
    return { status: 'no-text', message: 'An image — OCR is off', pages: null, text: '' };
  const buffer = await readFile(file);
  switch (kind) {
    case 'pdf':
      return pdf(new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength));
    case 'docx':
      return docx(buffer);
    case 'html':
      return result(null, await html(buffer.toString('utf8')), 'The page has no text');
    case 'eml':
      return eml(buffer);
    case 'text':
    case 'markdown':
      return result(
        null,
        tidy(buffer.toString('utf8').replace(/^\uFEFF/, '')),
        'The file is empty',
      );
  }
}

extract().then(
  (extracted) => parentPort!.postMessage(extracted),
  (error: unknown) =>
    parentPort!.postMessage({
      status: 'failed',
      message: `Text extraction failed (${error instanceof Error ? error.message.slice(0, 200) : String(error)})`,
      pages: null,
      text: '',
    } satisfies Extracted),
);
