import { PDFDocument, StandardFonts } from 'pdf-lib';

/**
 * Sample documents the app makes itself (issue #17 item 5), so the "Investigate documents"
 * template works out of the box and tests need no fixtures: invoices as text, Markdown and
 * HTML, and a five-page PDF statement longer than one extraction call reads (its total is on
 * page 4). Two findings are planted: an amount far above the others, and an invoice number
 * billed twice. Each sample lists what is true of it — values, and the page and line showing
 * each — which tests use to answer as a model would.
 */
export interface SampleFact {
  value: string | number;
  page: number;
  quote: string;
}

export interface SampleDocument {
  name: string;
  mediaType: string;
  facts: {
    vendor: SampleFact;
    invoice_number: SampleFact;
    date: SampleFact;
    amount: SampleFact;
    currency: SampleFact;
  };
  /** Pages of text (one for text, Markdown and HTML). */
  pages: string[][];
}

function invoice(
  name: string,
  mediaType: string,
  fields: { vendor: string; number: string; date: string; amount: number; currency: string },
  extra: string[] = [],
): SampleDocument {
  const lines = [
    `INVOICE ${fields.number}`,
    `Vendor: ${fields.vendor}`,
    `Invoice date: ${fields.date}`,
    `Amount due: ${fields.amount.toFixed(2)}`,
    `Currency: ${fields.currency}`,
    ...extra,
  ];
  return {
    name,
    mediaType,
    pages: [lines],
    facts: {
      vendor: { value: fields.vendor, page: 1, quote: lines[1]! },
      invoice_number: { value: fields.number, page: 1, quote: lines[0]! },
      date: { value: fields.date, page: 1, quote: lines[2]! },
      amount: { value: fields.amount, page: 1, quote: lines[3]! },
      currency: { value: fields.currency, page: 1, quote: lines[4]! },
    },
  };
}

const FILLER =
  'This statement lists the services delivered during the period under the framework agreement. Charges are billed monthly in arrears and are payable within thirty days of the statement date. Questions about an item should be raised with the account manager named on the first page.';

function statement(): SampleDocument {
  const filler = (page: number) =>
    Array.from({ length: 5 }, (_, index) => `Section ${page}.${index + 1}. ${FILLER}`);
  const pages = [
    ['STATEMENT ST-4410', 'Vendor: Umbrella Logistics', 'Statement date: 2026-10-28', ...filler(1)],
    ['Services delivered', ...filler(2)],
    ['Service details', ...filler(3)],
    ['Summary of charges', 'Total due: 1480.00', 'Currency: EUR', ...filler(4)],
    ['Terms and conditions', ...filler(5)],
  ];
  return {
    name: 'statement-umbrella-st-4410.pdf',
    mediaType: 'application/pdf',
    pages,
    facts: {
      vendor: { value: 'Umbrella Logistics', page: 1, quote: 'Vendor: Umbrella Logistics' },
      invoice_number: { value: 'ST-4410', page: 1, quote: 'STATEMENT ST-4410' },
      date: { value: '2026-10-28', page: 1, quote: 'Statement date: 2026-10-28' },
      amount: { value: 1480, page: 4, quote: 'Total due: 1480.00' },
      currency: { value: 'EUR', page: 4, quote: 'Currency: EUR' },
    },
  };
}

export const SAMPLE_DOCUMENTS: readonly SampleDocument[] = [
  invoice('invoice-acme-1001.txt', 'text/plain', {
    vendor: 'Acme Supplies',
    number: 'INV-1001',
    date: '2026-10-03',
    amount: 1200,
    currency: 'USD',
  }),
  invoice('invoice-acme-1002.txt', 'text/plain', {
    vendor: 'Acme Supplies',
    number: 'INV-1002',
    date: '2026-10-17',
    amount: 950,
    currency: 'USD',
  }),
  invoice(
    'invoice-acme-1002-reminder.md',
    'text/markdown',
    {
      vendor: 'Acme Supplies',
      number: 'INV-1002',
      date: '2026-11-02',
      amount: 950,
      currency: 'USD',
    },
    ['', 'Reminder: this invoice is still unpaid.'],
  ),
  invoice('invoice-globex-2001.html', 'text/html', {
    vendor: 'Globex Corporation',
    number: 'GX-2001',
    date: '2026-10-09',
    amount: 1100,
    currency: 'USD',
  }),
  invoice('invoice-initech-3001.txt', 'text/plain', {
    vendor: 'Initech',
    number: 'IT-3001',
    date: '2026-10-21',
    amount: 98000,
    currency: 'USD',
  }),
  statement(),
];

const escapeHtml = (text: string) =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

async function pdfBytes(pages: string[][]): Promise<Buffer> {
  const document = await PDFDocument.create();
  const font = await document.embedFont(StandardFonts.Helvetica);
  for (const lines of pages) {
    const page = document.addPage([612, 792]);
    let y = 740;
    for (const line of lines) {
      // Long lines are wrapped at about 90 characters (Helvetica 10 pt on a letter page).
      const words = line.split(' ');
      let current = '';
      const flush = () => {
        page.drawText(current, { x: 40, y, size: 10, font });
        y -= 14;
        current = '';
      };
      for (const word of words) {
        if (current && current.length + word.length + 1 > 90) flush();
        current = current ? `${current} ${word}` : word;
      }
      if (current) flush();
    }
  }
  return Buffer.from(await document.save());
}

/** The bytes of one sample, in its format. */
export async function sampleBytes(sample: SampleDocument): Promise<Buffer> {
  const lines = sample.pages.flat();
  switch (sample.mediaType) {
    case 'application/pdf':
      return pdfBytes(sample.pages);
    case 'text/html':
      return Buffer.from(
        `<!doctype html><html><head><title>${escapeHtml(lines[0]!)}</title></head><body><article>${lines
          .map((line) => `<p>${escapeHtml(line)}</p>`)
          .join('')}</article></body></html>`,
      );
    default:
      return Buffer.from(`${lines.join('\n')}\n`);
  }
}
