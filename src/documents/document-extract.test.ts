import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import JSZip from 'jszip';
import { PDFDocument, StandardFonts } from 'pdf-lib';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_EXTRACT_LIMITS, extractDocument } from './document-extract.ts';
import { sniffDocument } from './document-sniff.ts';

/** Test documents are made here (pdf-lib, JSZip, text): nothing is downloaded or checked in. */
const dir = mkdtempSync(path.join(os.tmpdir(), 'bc-documents-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const write = (name: string, content: Buffer | Uint8Array | string) => {
  const file = path.join(dir, name);
  writeFileSync(file, content);
  return file;
};

// A 1×1 PNG.
const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==',
  'base64',
);

async function pdf(pages: (string | null)[]): Promise<Uint8Array> {
  const document = await PDFDocument.create();
  const font = await document.embedFont(StandardFonts.Helvetica);
  const image = await document.embedPng(PNG);
  for (const text of pages) {
    const page = document.addPage([400, 300]);
    if (text === null) page.drawImage(image, { x: 10, y: 10, width: 300, height: 200 });
    else page.drawText(text, { x: 20, y: 200, size: 12, font });
  }
  return document.save();
}

async function docx(body: string | Buffer, options: { compress?: boolean } = {}) {
  const zip = new JSZip();
  zip.file(
    '[Content_Types].xml',
    '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>',
  );
  zip.file(
    '_rels/.rels',
    '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>',
  );
  zip.file(
    'word/document.xml',
    typeof body === 'string'
      ? `<?xml version="1.0"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>${body
          .split('\n')
          .map((line) => `<w:p><w:r><w:t>${line}</w:t></w:r></w:p>`)
          .join('')}</w:body></w:document>`
      : body,
  );
  return zip.generateAsync({
    type: 'nodebuffer',
    compression: options.compress === false ? 'STORE' : 'DEFLATE',
    compressionOptions: { level: 9 },
  });
}

/** A PDF whose standard security handler wants a password (its /U matches no empty one). */
const ENCRYPTED_PDF = `%PDF-1.4
1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj
2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj
3 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 100 100] >> endobj
4 0 obj << /Filter /Standard /V 1 /R 2 /O <${'ab'.repeat(32)}> /U <${'cd'.repeat(32)}> /P -4 >> endobj
trailer << /Root 1 0 R /Encrypt 4 0 R /ID [<${'01'.repeat(16)}> <${'01'.repeat(16)}>] /Size 5 >>
%%EOF`;

async function run(
  name: string,
  content: Buffer | Uint8Array | string,
  limits = DEFAULT_EXTRACT_LIMITS,
) {
  const file = write(name, content);
  const sniffed = sniffDocument(Buffer.from(content).subarray(0, 4096), name);
  expect(sniffed.kind, sniffed.reason).toBeDefined();
  return { sniffed, extracted: await extractDocument(file, sniffed.kind!, limits) };
}

describe('document text extraction', () => {
  it('reads a PDF page by page; a scanned page has no text and an image-only PDF says OCR is off', async () => {
    const { sniffed, extracted } = await run(
      'invoice.pdf',
      await pdf(['Invoice ACME total 120.50 EUR', null, 'Paid on 2026-01-02']),
    );
    expect(sniffed).toMatchObject({ kind: 'pdf', mediaType: 'application/pdf' });
    expect(extracted).toMatchObject({
      status: 'ready',
      pages: ['Invoice ACME total 120.50 EUR', '', 'Paid on 2026-01-02'],
    });
    expect(extracted.text).toBe('Invoice ACME total 120.50 EUR\n\n\n\nPaid on 2026-01-02');

    const scan = await run('scan.pdf', await pdf([null, null]));
    expect(scan.extracted).toEqual({
      status: 'no-text',
      message: 'No text layer — OCR is off',
      pages: ['', ''],
      text: '',
    });
  });

  it('names encrypted and corrupt PDFs, and caps pages', async () => {
    expect((await run('locked.pdf', ENCRYPTED_PDF)).extracted).toMatchObject({
      status: 'encrypted',
      message: expect.stringContaining('password'),
    });
    expect((await run('broken.pdf', '%PDF-1.7\nnot really a pdf')).extracted).toMatchObject({
      status: 'corrupt',
      message: expect.stringContaining('Not a readable PDF'),
    });
    const long = await run('long.pdf', await pdf(['one', 'two', 'three', 'four']), {
      ...DEFAULT_EXTRACT_LIMITS,
      maxPages: 2,
    });
    expect(long.extracted).toMatchObject({
      status: 'ready',
      pages: ['one', 'two'],
      message: 'Only the first 2 of 4 pages were read',
    });
  });

  it('reads DOCX, HTML without its scripts, e-mail with its headers, text and Markdown', async () => {
    expect(
      (await run('memo.docx', await docx('Memo\nThe budget is 42 k€.'))).extracted,
    ).toMatchObject({
      status: 'ready',
      pages: null,
      text: 'Memo\n\nThe budget is 42 k€.',
    });
    const page = await run(
      'page.html',
      '<!doctype html><html><head><title>Quarterly note</title><script>alert(1)</script><style>p{}</style></head><body><nav>Menu</nav><article><p>Revenue grew 12% in Q3.</p></article><script>document.write("x")</script></body></html>',
    );
    expect(page.sniffed.kind).toBe('html');
    expect(page.extracted.status).toBe('ready');
    expect(page.extracted.text).toContain('Quarterly note');
    expect(page.extracted.text).toContain('Revenue grew 12% in Q3.');
    expect(page.extracted.text).not.toMatch(/alert|document\.write|p\{\}/);

    const mail = await run(
      'note.eml',
      'From: Ada <ada@example.com>\r\nTo: bob@example.com\r\nSubject: Receipt 7\r\nDate: Tue, 01 Dec 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThe receipt is attached.\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename="r7.bin"\r\nContent-Transfer-Encoding: base64\r\n\r\nAAEC\r\n--b--\r\n',
    );
    expect(mail.sniffed.kind).toBe('eml');
    expect(mail.extracted.text).toBe(
      'Subject: Receipt 7\nFrom: "Ada" <ada@example.com>\nTo: bob@example.com\nDate: 2026-12-01T10:00:00.000Z\nAttachments: r7.bin\n\nThe receipt is attached.',
    );
    expect((await run('notes.txt', '\uFEFFline one\r\nline two')).extracted).toMatchObject({
      status: 'ready',
      text: 'line one\nline two',
    });
    expect((await run('readme.md', '# Title\n\nBody')).sniffed.kind).toBe('markdown');
    expect((await run('empty.txt', '   \n')).extracted).toMatchObject({ status: 'no-text' });
  });

  it('keeps images without text, and refuses SVG, binaries and ZIPs that are not documents by their bytes', async () => {
    expect((await run('photo.png', PNG)).extracted).toEqual({
      status: 'no-text',
      message: 'An image — OCR is off',
      pages: null,
      text: '',
    });
    // The name and the client's media type do not decide: the bytes do.
    expect(sniffDocument(PNG, 'innocent.txt')).toMatchObject({
      kind: 'image',
      mediaType: 'image/png',
    });
    expect(
      sniffDocument(
        Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'),
        'x.png',
      ),
    ).toMatchObject({ kind: undefined, reason: expect.stringContaining('SVG') });
    expect(
      sniffDocument(Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0, 1, 2]), 'report.pdf'),
    ).toMatchObject({ kind: undefined, reason: expect.stringContaining('binary') });
    expect(sniffDocument(await docx('x'), 'archive.zip')).toMatchObject({
      kind: undefined,
      mediaType: 'application/zip',
    });
    // A DOCX that is not one: a corrupt document, the batch goes on.
    const notWord = new JSZip();
    notWord.file('hello.txt', 'hi');
    expect(
      (await run('fake.docx', await notWord.generateAsync({ type: 'nodebuffer' }))).extracted,
    ).toMatchObject({ status: 'corrupt' });
  });

  it('a ZIP bomb DOCX is refused by what it really inflates to, whatever it declares', async () => {
    // ~20 MB of XML that compresses to a few tens of KB, against a 5 MiB limit (the size only
    // has to pass the limit: a larger bomb costs the test seconds of deflating, not coverage).
    const open =
      '<?xml version="1.0"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>';
    const close = '</w:t></w:r></w:p></w:body></w:document>';
    const huge = Buffer.alloc(20 * 1024 * 1024, 0x20);
    huge.write(open, 0);
    huge.write(close, huge.length - close.length);
    const bomb = await docx(huge);
    expect(bomb.length).toBeLessThan(2 * 1024 * 1024);
    // The archive lies: its directory says the document is 1 KiB.
    const lying = Buffer.from(bomb);
    for (let at = 0; at < lying.length - 4; at++)
      if (lying.readUInt32LE(at) === 0x02014b50 || lying.readUInt32LE(at) === 0x04034b50)
        lying.writeUInt32LE(1024, at + (lying.readUInt32LE(at) === 0x02014b50 ? 24 : 22));
    for (const archive of [bomb, lying]) {
      const { extracted } = await run('bomb.docx', archive, {
        ...DEFAULT_EXTRACT_LIMITS,
        maxUnpackedBytes: 5 * 1024 * 1024,
      });
      expect(extracted).toMatchObject({
        status: 'failed',
        message: 'The .docx document was not read: it unpacks to more than 5 MiB',
      });
    }
    // The next document is read as usual.
    expect((await run('after.txt', 'still fine')).extracted.status).toBe('ready');
  }, 60_000);

  it('a document that needs more heap than its worker has fails alone', async () => {
    // 40 MB of text held as JS strings (several copies while tidied) in a 16 MiB heap.
    const { extracted } = await run('big.txt', 'word '.repeat(8_000_000), {
      ...DEFAULT_EXTRACT_LIMITS,
      heapMb: 16,
    });
    expect(extracted).toMatchObject({
      status: 'failed',
      message: expect.stringContaining('16 MiB'),
    });
  }, 60_000);

  it('a cancelled extraction stops its worker', async () => {
    const file = write('cancel.pdf', await pdf(['x']));
    const controller = new AbortController();
    controller.abort();
    expect(
      await extractDocument(file, 'pdf', DEFAULT_EXTRACT_LIMITS, controller.signal),
    ).toMatchObject({
      status: 'failed',
      message: 'Text extraction was cancelled',
    });
  });
});
