import { AppError, isAppError, notFound } from '../platform/app-error.ts';
import type { CellValue, ColumnType } from '../sheets/sheet-schema.ts';
import type { ExtractionSchema, WorkflowStep } from './workflow-schema.ts';
import type { StepEnvironment, StepResult, StepUsage, WorkflowPorts } from './workflow-steps.ts';

/**
 * The `extract` step (docs/workflows.md, issue #17 item 2): typed fields out of each document of
 * a collection, one row per document in an extraction sheet, and per value a citation — the
 * document, the page and a quoted span — checked against that page's text. A document longer
 * than the step's `contextChars` is read in page chunks (map), and the chunks' candidates are
 * reduced by one more call: never silently cut. Each document is one checkpoint, so a resumed
 * step does not ask the model again for documents it finished; rows are written last, in one
 * checkpoint that first removes the rows of the same documents (a redo writes them once).
 */

/** The extraction sheet's own columns (field columns come between Document id and Citations). */
export const EXTRACTION_COLUMNS = {
  document: 'Document',
  documentId: 'Document id',
  citations: 'Citations',
  status: 'Extraction status',
  error: 'Extraction error',
} as const;
export const RESERVED_FIELD_NAMES = new Set(
  Object.values(EXTRACTION_COLUMNS).map((name) => name.toLowerCase()),
);

type ExtractStep = Extract<WorkflowStep, { kind: 'extract' }>;
type Field = ExtractionSchema['properties'][string];

export function columnTypeOf(field: Field): ColumnType {
  if (field.type === 'string') return field.format === 'date' ? 'date' : 'text';
  return field.type;
}

/** Every column the sheet needs, in order. */
export function extractionColumns(schema: ExtractionSchema): { name: string; type: ColumnType }[] {
  return [
    { name: EXTRACTION_COLUMNS.document, type: 'text' },
    { name: EXTRACTION_COLUMNS.documentId, type: 'text' },
    ...Object.entries(schema.properties).map(([name, field]) => ({
      name,
      type: columnTypeOf(field),
    })),
    { name: EXTRACTION_COLUMNS.citations, type: 'json' },
    { name: EXTRACTION_COLUMNS.status, type: 'text' },
    { name: EXTRACTION_COLUMNS.error, type: 'text' },
  ];
}

/** Part of one page (a page longer than a chunk is cut into parts, each named by its page). */
export interface PagePart {
  page: number;
  text: string;
}
export type Chunk = PagePart[];

/**
 * Pages grouped into chunks of at most `limit` characters, in order. A page that does not fit
 * in one chunk is cut into parts (on whitespace where possible); every part keeps its page
 * number, so a citation from any chunk names a real page.
 */
export function chunkPages(pages: readonly string[], limit: number): Chunk[] {
  const chunks: Chunk[] = [];
  let current: Chunk = [];
  let size = 0;
  const flush = () => {
    if (current.length > 0) chunks.push(current);
    current = [];
    size = 0;
  };
  for (const [index, text] of pages.entries()) {
    const page = index + 1;
    if (text.length <= limit) {
      if (size + text.length > limit) flush();
      current.push({ page, text });
      size += text.length;
      continue;
    }
    flush();
    let rest = text;
    while (rest.length > limit) {
      const space = rest.lastIndexOf(' ', limit);
      const cut = space > limit / 2 ? space : limit;
      chunks.push([{ page, text: rest.slice(0, cut) }]);
      rest = rest.slice(cut);
    }
    current = [{ page, text: rest }];
    size = rest.length;
  }
  flush();
  return chunks;
}

const normalize = (text: string) => text.replace(/\s+/g, ' ').trim().toLowerCase();

export interface Citation {
  documentId: string;
  page: number | null;
  quote: string;
  /** The quote occurs in the cited page's text (whitespace and case aside). */
  verified: boolean;
  /** Why it is not verified. */
  reason?: string;
}

/**
 * A document's pages normalized once, each on first use: a document's fields are checked
 * against the same pages, and a quote on another page than the cited one searches them all.
 */
export function normalizedPages(pages: readonly string[]): (index: number) => string {
  const normalized: (string | undefined)[] = new Array(pages.length);
  return (index) => {
    normalized[index] ??= normalize(pages[index]!);
    return normalized[index];
  };
}

/** Checks that `quote` occurs in page `page` (1-based) of `pages`. */
export function verifyCitation(
  documentId: string,
  pages: readonly string[],
  page: unknown,
  quote: unknown,
  pageText: (index: number) => string = normalizedPages(pages),
): Citation {
  const text = typeof quote === 'string' ? quote.slice(0, 1_000) : '';
  const number = typeof page === 'number' && Number.isInteger(page) ? page : null;
  const base = { documentId, page: number, quote: text };
  const wanted = normalize(text);
  if (wanted === '') return { ...base, verified: false, reason: 'no quote' };
  if (number === null || number < 1 || number > pages.length)
    return { ...base, verified: false, reason: `no page ${String(page)}` };
  if (pageText(number - 1).includes(wanted)) return { ...base, verified: true };
  const elsewhere = pages.findIndex((_, index) => pageText(index).includes(wanted));
  return {
    ...base,
    verified: false,
    reason:
      elsewhere >= 0
        ? `the quote is on page ${elsewhere + 1}, not ${number}`
        : `the quote is not in page ${number}`,
  };
}

/** The model's value as the column's type; a value that does not fit is null with a reason. */
export function typedValue(field: Field, value: unknown): { value: CellValue; problem?: string } {
  if (value === null || value === undefined || value === '') return { value: null };
  const problem = (expected: string) => ({
    value: null,
    problem: `${JSON.stringify(value).slice(0, 100)} is not ${expected}`,
  });
  switch (field.type) {
    case 'number':
    case 'integer': {
      const number =
        typeof value === 'number'
          ? value
          : typeof value === 'string' && /^-?[\d,]*\.?\d+$/.test(value.trim())
            ? Number(value.trim().replace(/,/g, ''))
            : Number.NaN;
      if (!Number.isFinite(number)) return problem('a number');
      if (field.type === 'integer' && !Number.isInteger(number)) return problem('an integer');
      return { value: number };
    }
    case 'boolean':
      return typeof value === 'boolean' ? { value } : problem('true or false');
    case 'string': {
      const text = typeof value === 'string' ? value : String(value);
      if (field.format === 'date') {
        const date = /^\d{4}-\d{2}-\d{2}/.exec(text.trim())?.[0];
        return date && !Number.isNaN(Date.parse(date)) ? { value: date } : problem('a date');
      }
      return { value: text.slice(0, 10_000) };
    }
  }
}

/** The JSON Schema of one answer: per field its value, page and quote. */
export function answerSchema(schema: ExtractionSchema) {
  const properties: Record<string, unknown> = {};
  for (const [name, field] of Object.entries(schema.properties)) {
    const value: Record<string, unknown> = {
      type: field.type,
      ...(field.format ? { format: field.format } : {}),
    };
    properties[name] = {
      type: 'object',
      properties: {
        value: { anyOf: [value, { type: 'null' }] },
        page: { type: 'integer', minimum: 1 },
        quote: { type: 'string' },
      },
      required: ['value', 'page', 'quote'],
      additionalProperties: false,
    };
  }
  return {
    type: 'object',
    properties,
    required: Object.keys(schema.properties),
    additionalProperties: false,
  };
}

function fieldList(schema: ExtractionSchema): string {
  return Object.entries(schema.properties)
    .map(
      ([name, field]) =>
        `- ${name} (${field.format ?? field.type})${field.description ? `: ${field.description}` : ''}`,
    )
    .join('\n');
}

const chunkText = (chunk: Chunk) =>
  chunk.map((part) => `[page ${part.page}]\n${part.text}`).join('\n\n');

export const SYSTEM_PROMPT =
  "You extract fields from documents. Answer only with JSON that fits the schema. For each field give its value (null when the text does not state it), the page it is on, and a quote: a short span copied exactly from that page's text that shows the value.";

export function singlePrompt(
  name: string,
  pageCount: number,
  schema: ExtractionSchema,
  chunk: Chunk,
) {
  return `Document "${name}" (${pageCount} ${pageCount === 1 ? 'page' : 'pages'}).\nFields:\n${fieldList(schema)}\n\nText:\n${chunkText(chunk)}`;
}

export function mapPrompt(
  name: string,
  pageCount: number,
  schema: ExtractionSchema,
  chunk: Chunk,
  index: number,
  total: number,
) {
  const first = chunk[0]!.page;
  const last = chunk.at(-1)!.page;
  return `Document "${name}", part ${index}/${total} (page ${first === last ? first : `${first}-${last}`} of ${pageCount}). Give the fields this part states; null for a field it does not state.\nFields:\n${fieldList(schema)}\n\nText:\n${chunkText(chunk)}`;
}

export function reducePrompt(
  name: string,
  schema: ExtractionSchema,
  candidates: Record<string, unknown[]>,
  total: number,
) {
  return `Document "${name}" was read in ${total} parts. Candidates per field, each with its page and quote:\n${JSON.stringify(candidates, null, 1)}\n\nChoose each field's value for the whole document (null when no part states it) and keep the page and quote of the candidate you chose.\nFields:\n${fieldList(schema)}`;
}

interface FieldAnswer {
  value: unknown;
  page: unknown;
  quote: unknown;
}

function fieldAnswers(output: unknown, schema: ExtractionSchema): Record<string, FieldAnswer> {
  const answers: Record<string, FieldAnswer> = {};
  const record =
    output !== null && typeof output === 'object' ? (output as Record<string, unknown>) : {};
  for (const name of Object.keys(schema.properties)) {
    const entry = Object.hasOwn(record, name) ? record[name] : undefined;
    const object =
      entry !== null && typeof entry === 'object' ? (entry as Record<string, unknown>) : {};
    answers[name] = { value: object.value ?? null, page: object.page, quote: object.quote };
  }
  return answers;
}

/** One document's extraction: what its row holds (checkpointed as is). */
export interface DocumentExtraction {
  documentId: string;
  name: string;
  status: 'ok' | 'unverified' | 'failed';
  values: Record<string, CellValue>;
  citations: Record<string, Citation | null>;
  error: string | null;
  chunks: number;
  calls: number;
  usage: StepUsage;
}

const emptyUsage = (): StepUsage => ({ inputTokens: 0, outputTokens: 0, costNano: 0 });

/**
 * Reads the documents' pages in batches of `size`, in the step's order: the first document of
 * a batch to need its text reads the whole batch, and a batch is let go once each of its
 * documents is `done` (answered, or found finished by its checkpoint), so the text held is
 * that of the batches under way. The step begins documents in order, 2 × `concurrency` at a
 * time, so with batches of `concurrency` the collection is read in one query per `concurrency`
 * documents whatever the timing (each query also costs the cells read's own access check and
 * the sheet's columns). `ahead`: the first ask of a batch also reads that many batches
 * after it (not yet let go), so a slow read (the documents' text is in DuckDB, whose reads
 * take 20–800 ms on a loaded machine) is under way while the batches before it are with the
 * model, instead of keeping the model's window waiting once they are answered. Reads go one
 * at a time, in the order asked: the first batch, which the step's first calls wait for, is
 * never slowed by the ones after it (the step begins two batches' documents at once, and the
 * reads share the database).
 */
export function batchedPageReader(
  documentIds: readonly string[],
  size: number,
  read: (documentIds: string[]) => Promise<Map<string, string[]>>,
  { ahead = 0 }: { ahead?: number } = {},
) {
  const batches = new Map<number, { pages?: Promise<Map<string, string[]>>; left: number }>();
  const count = Math.ceil(documentIds.length / size);
  /** Batches let go: read again when asked, never read ahead again. */
  const released = new Set<number>();
  /** The last read asked for (settled or not): the next one starts once it has. */
  let previous: Promise<unknown> = Promise.resolve();
  const batchAt = (number: number) => {
    let batch = batches.get(number);
    if (!batch) {
      batch = { left: Math.min(size, documentIds.length - number * size) };
      batches.set(number, batch);
    }
    if (!batch.pages) {
      const wanted = [...new Set(documentIds.slice(number * size, (number + 1) * size))];
      batch.pages = previous.then(() => read(wanted));
      previous = batch.pages.catch(() => {});
    }
    return batch;
  };
  return {
    async pages(index: number, readAhead = true): Promise<string[]> {
      const number = Math.floor(index / size);
      const batch = batchAt(number);
      for (let next = number + 1; readAhead && next <= number + ahead && next < count; next++)
        if (!batches.has(next) && !released.has(next))
          // Its failure is thrown to the documents that ask for it.
          batchAt(next).pages?.catch(() => {});
      const documentId = documentIds[index]!;
      const pages = (await batch.pages)?.get(documentId);
      if (!pages) throw notFound('Document', documentId);
      return pages;
    },
    done(index: number) {
      const number = Math.floor(index / size);
      const batch = batches.get(number) ?? {
        left: Math.min(size, documentIds.length - number * size),
      };
      batches.set(number, batch);
      if (--batch.left === 0) {
        batches.delete(number);
        released.add(number);
      }
    },
  };
}

/**
 * The first `size` of a step's `total` documents: `sent` resolves (a turn of the event loop
 * later, so their calls go out first) once each has `passed` — gone to the model, or finished
 * without it; `allGone` is called once every one of the `total` has.
 */
export function firstWave(size: number, total: number, allGone: () => void) {
  const passed = new Set<number>();
  let release!: () => void;
  const sent = new Promise<void>((resolve) => {
    release = resolve;
  });
  let firstPassed = 0;
  if (size === 0) release();
  return {
    sent,
    holds: (index: number) => index < size,
    passed(index: number) {
      if (passed.has(index)) return;
      passed.add(index);
      if (index < size && ++firstPassed === size) setImmediate(release);
      if (passed.size === total) allGone();
    },
  };
}

/** At most `limit` callers run `work` at once; the others wait their turn, in order. */
function slots(limit: number) {
  let free = limit;
  const waiting: (() => void)[] = [];
  return async <T>(work: () => Promise<T>): Promise<T> => {
    if (free > 0) free--;
    else await new Promise<void>((resolve) => waiting.push(resolve));
    try {
      return await work();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else free++;
    }
  };
}

/** What every call of a step sends alike, built once per step rather than once per call. */
interface StepRequest {
  system: string;
  outputSchema: ReturnType<typeof answerSchema>;
}

function stepRequest(step: ExtractStep): StepRequest {
  return {
    system: step.instructions ? `${SYSTEM_PROMPT}\n\n${step.instructions}` : SYSTEM_PROMPT,
    outputSchema: answerSchema(step.schema),
  };
}

async function extractDocument(
  step: ExtractStep,
  env: StepEnvironment,
  request: StepRequest,
  document: { id: string; name: string },
  pages: string[],
): Promise<DocumentExtraction> {
  const usage = emptyUsage();
  let calls = 0;
  const chunks = chunkPages(pages, step.contextChars);
  const result: DocumentExtraction = {
    documentId: document.id,
    name: document.name,
    status: 'failed',
    values: {},
    citations: {},
    error: null,
    chunks: chunks.length,
    calls: 0,
    usage,
  };
  const ask = async (prompt: string) => {
    calls++;
    const answer = await env.ports.generate({
      // For the run's user: the step checked once that they may edit the project.
      userId: env.actor.userId,
      projectId: env.projectId,
      feature: 'workflow',
      entityIds: { workflowRunId: env.runId, stepId: step.id, documentId: document.id },
      ...(step.provider ? { provider: step.provider } : {}),
      model: step.model,
      messages: [
        { role: 'system', content: request.system },
        { role: 'user', content: prompt },
      ],
      outputSchema: request.outputSchema,
      signal: env.signal,
    });
    usage.inputTokens +=
      (answer.usage.uncachedInputTokens ?? 0) +
      (answer.usage.cacheReadTokens ?? 0) +
      (answer.usage.cacheWriteTokens ?? 0);
    usage.outputTokens += answer.usage.outputTokens ?? 0;
    usage.costNano += answer.costNano ?? 0;
    return fieldAnswers(answer.output, step.schema);
  };
  try {
    let answers: Record<string, FieldAnswer>;
    if (chunks.length === 0) {
      answers = {};
    } else if (chunks.length === 1) {
      answers = await ask(singlePrompt(document.name, pages.length, step.schema, chunks[0]!));
    } else {
      // Map: each chunk on its own, `concurrency` at a time (the LLM router's limiter still
      // caps the provider); reduce: one call choosing among the chunks' candidates, which are
      // listed in page order whatever order the calls finished in.
      const partials = await mapLimit(chunks, step.concurrency, (chunk, index) =>
        ask(mapPrompt(document.name, pages.length, step.schema, chunk, index + 1, chunks.length)),
      );
      const candidates: Record<string, unknown[]> = {};
      for (const partial of partials) {
        for (const [name, answer] of Object.entries(partial))
          if (answer.value !== null) candidates[name] = [...(candidates[name] ?? []), answer];
      }
      answers = await ask(reducePrompt(document.name, step.schema, candidates, chunks.length));
    }
    const problems: string[] = [];
    let unverified = false;
    const pageText = normalizedPages(pages);
    for (const [name, field] of Object.entries(step.schema.properties)) {
      const answer = answers[name];
      const typed = typedValue(field, answer?.value);
      if (typed.problem) problems.push(`${name}: ${typed.problem}`);
      result.values[name] = typed.value;
      if (typed.value === null || !answer) {
        result.citations[name] = null;
        continue;
      }
      const citation = verifyCitation(document.id, pages, answer.page, answer.quote, pageText);
      if (!citation.verified) unverified = true;
      result.citations[name] = citation;
    }
    result.status = unverified || problems.length > 0 ? 'unverified' : 'ok';
    result.error = problems.length > 0 ? problems.join('; ') : null;
    if (chunks.length === 0) {
      result.status = 'failed';
      result.error = 'The document has no text';
    }
  } catch (error) {
    // A retryable failure (5xx, timeout) or a stop fails the attempt: the step retries, and
    // the documents finished so far keep their checkpoints. Anything else is this row's error.
    if (env.signal.aborted || !isAppError(error) || error.retryable) throw error;
    result.status = 'failed';
    result.error = error.message;
  }
  result.calls = calls;
  return result;
}

/**
 * Runs `work` over `items`, at most `limit` at a time, keeping the order of the results. After
 * a failure no further item is started (the ones running finish), and the first error is thrown.
 */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  work: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    while (next < items.length && !failure) {
      const index = next++;
      try {
        results[index] = await work(items[index]!, index);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure) throw failure.error;
  return results;
}

/**
 * Sends items in parts of `size` as they are added, one part at a time (each once the one
 * before it has been sent), never holding up whoever adds them. After `eager()`, what is added
 * goes at once whenever no part is on its way (parts are then whatever came meanwhile): for
 * the last items, whose wait would otherwise be the caller's. `flush` sends what is left,
 * waits for every part and throws the first part's failure (no part is sent after one failed);
 * `sent` counts the items of the parts sent. `settled` waits for the parts without throwing.
 */
export function partsSender<T>(size: number, send: (items: T[]) => Promise<void>) {
  let pending: T[] = [];
  let sending: Promise<void> = Promise.resolve();
  let failed: { error: unknown } | undefined;
  let sent = 0;
  let onTheWay = 0;
  let eager = false;
  const sendPending = () => {
    const part = pending;
    pending = [];
    if (part.length === 0) return;
    onTheWay++;
    sending = sending.then(async () => {
      try {
        if (failed) return;
        await send(part);
        sent += part.length;
      } catch (error) {
        failed = { error };
      } finally {
        onTheWay--;
        if (eager && onTheWay === 0) sendPending();
      }
    });
  };
  /** Every part sent, including any a part's end sent on (eager). */
  const drained = async () => {
    for (;;) {
      const current = sending;
      await current;
      if (current === sending) return;
    }
  };
  return {
    add(item: T) {
      pending.push(item);
      if (pending.length >= size || (eager && onTheWay === 0)) sendPending();
    },
    eager() {
      eager = true;
      if (onTheWay === 0) sendPending();
    },
    async flush() {
      sendPending();
      await drained();
      if (failed) throw failed.error;
      return sent;
    },
    settled: drained,
  };
}

/** The sheet's column of that name (`columns`: ids by name, as the step ensured them). */
function columnIdOf(step: ExtractStep, columns: Record<string, string>, name: string) {
  const column = columns[name];
  if (!column)
    throw new AppError('CONFLICT', `The extraction sheet has no column "${name}"`, {
      details: { step: step.id },
    });
  return column;
}

/** A document's row in the extraction sheet, by the sheet's column ids (`columns`, by name). */
function rowOf(
  step: ExtractStep,
  columns: Record<string, string>,
  result: DocumentExtraction,
): Record<string, CellValue> {
  const id = (name: string) => columnIdOf(step, columns, name);
  const row: Record<string, CellValue> = {
    [id(EXTRACTION_COLUMNS.document)]: result.name,
    [id(EXTRACTION_COLUMNS.documentId)]: result.documentId,
    [id(EXTRACTION_COLUMNS.citations)]: result.citations as Record<string, CellValue>,
    [id(EXTRACTION_COLUMNS.status)]: result.status,
    [id(EXTRACTION_COLUMNS.error)]: result.error,
  };
  for (const [name, value] of Object.entries(result.values)) row[id(name)] = value;
  return row;
}

/** Batches of documents' text read ahead of the one a document asks for (see batchedPageReader). */
const PAGES_AHEAD = 2;

/** The live view's progress events of a step: at most one this often (and the last). */
const PROGRESS_MS = 250;

/** Rows shown in the step's output (the sheet holds all of them). */
const OUTPUT_ROWS = 200;

export async function runExtraction(step: ExtractStep, env: StepEnvironment): Promise<StepResult> {
  const { ports, actor, projectId } = env;
  // Once per step, not per call: a thousand documents are not a thousand access checks.
  await ports.requireEditor(actor, projectId);
  const wanted = extractionColumns(step.schema);
  // The sheet's columns are needed only to write the rows, so adding the missing ones (a
  // statement and a DuckDB change each) begins once the first wave is with the model (below)
  // instead of sharing the main thread and the databases with the listing, the first text and
  // the first calls. A failure to add them stops the step from beginning more documents.
  let firstSent!: () => void;
  const ensured = new Promise<void>((resolve) => {
    firstSent = resolve;
  }).then(() =>
    env.checkpoint(`${step.id}/columns`, () =>
      ports.ensureColumns(actor, projectId, step.datasetId, wanted),
    ),
  );
  let columnsFailed: { error: unknown } | undefined;
  ensured.catch((error: unknown) => {
    columnsFailed = { error };
  });
  // The collection (PostgreSQL) and the sheet's rows (DuckDB) are read side by side: both are
  // time before the first call. The rows already extracted are found through the columns the
  // sheet has now, by name, as ensureColumns names them (none when they are not there yet).
  const present = async () => {
    const byName: Record<string, string> = {};
    for (const column of await ports.datasetColumns(actor, projectId, step.datasetId))
      byName[column.name] ??= column.id;
    return byName;
  };
  const existingRows = async (names: Record<string, string>) => {
    const documentId = names[EXTRACTION_COLUMNS.documentId];
    const status = names[EXTRACTION_COLUMNS.status];
    if (!documentId || !status) return [];
    const rows = await ports.readRows(actor, projectId, step.datasetId, [documentId, status]);
    return rows.map((row) => ({
      rowId: row.rowId,
      documentId: String(row.values[documentId]),
      status: row.values[status],
    }));
  };
  // The collection's documents come with the reader of their text (one access check and one
  // read of its columns for both), so the first batch's text is one read of the cells.
  const [collection, existing] = await Promise.all([
    ports.documentReader(actor, projectId, step.documentsDatasetId),
    present().then((names) => {
      // A column the sheet lacks by name but has under another case cannot be added (names
      // are unique whatever their case): refused here, before any call, not after them.
      const lower = new Set(Object.keys(names).map((name) => name.toLowerCase()));
      for (const { name } of wanted)
        if (!names[name] && lower.has(name.toLowerCase()))
          throw new AppError('CONFLICT', `A column named ${name} already exists`, {
            details: { step: step.id, column: name },
          });
      return existingRows(names);
    }),
  ]);
  const documents = collection.documents.filter((document) => document.status === 'ready');
  const extracted = new Set(
    existing.filter((row) => row.status !== 'failed').map((row) => row.documentId),
  );
  const todo =
    step.mode === 'all' ? documents : documents.filter((document) => !extracted.has(document.id));

  let done = 0;
  let progressAt = performance.now();
  // Not waited for, as the others below are not: the first call need not wait for an event.
  void env.progress(step.id, done, todo.length);
  const rowIds = new Map(todo.map((document) => [document.id, document.rowId]));
  const readPages = batchedPageReader(
    todo.map((document) => document.id),
    step.concurrency,
    (documentIds) =>
      collection.pages(documentIds.map((id) => ({ id, rowId: rowIds.get(id) ?? null }))),
    { ahead: PAGES_AHEAD },
  );
  // `concurrency` documents are with the model at once, and as many more are being begun and
  // read meanwhile, so the database's work (the documents' checkpoints, grouped, and their
  // text, read in batches) never holds a slot the model could use. A document leaves those
  // 2 × `concurrency` places once the model has answered it: its record (grouped with others)
  // goes on outside them, so a slow record never keeps the next document from the model.
  const withModel = slots(step.concurrency);
  // The first wave: until each of its documents is with the model (or done without it: found
  // finished, failed), no other document is begun and no text is read ahead — their statements
  // and reads share the main thread with the first calls, which then went out over ~100 ms.
  // Once every document is with the model (or done without it), the write begins (below).
  const wave = firstWave(Math.min(step.concurrency, todo.length), todo.length, () => {
    staging.eager();
    write().catch(() => {});
  });
  void wave.sent.then(firstSent);
  const request = stepRequest(step);
  // The sheet's rows are staged as documents finish, a part of `concurrency` rows at a time
  // while the model works on the others (converted and checked then, seen by no read of the
  // sheet), so the write after the last answer moves rows instead of converting 1,000 of
  // them. The stage is opened with the first part; dropped whatever happens.
  let stage: ReturnType<WorkflowPorts['stageRows']> | undefined;
  const results: DocumentExtraction[] = [];
  const staging = partsSender<{ result: DocumentExtraction; index: number }>(
    step.concurrency,
    async (part) => {
      const columns = await ensured;
      stage ??= ports.stageRows(actor, projectId, step.datasetId);
      await (await stage).add(
        part.map(({ result }) => rowOf(step, columns, result)),
        part.map(({ index }) => index),
      );
    },
  );
  const recorded: Promise<DocumentExtraction>[] = new Array(todo.length);
  // Settles once every document's record has (the results are in then), or with the first
  // failure.
  let recordsSettled!: { resolve: () => void; reject: (error: unknown) => void };
  const allRecorded = new Promise<void>((resolve, reject) => {
    recordsSettled = { resolve, reject };
  });
  allRecorded.catch(() => {});
  // Once every document is with the model (or done without it), the write's checkpoint begins
  // and each row that comes is staged at once rather than in parts: after the last answer the
  // write then has one row left to stage and its own statement already made. It moves the
  // rows only once every record is in — never holding the sheet's lock, nor a transaction,
  // while calls are out (the last ones may take minutes) — and the rows to replace are read
  // inside its transaction (a redo writes them once, and a row another writer adds meanwhile
  // is either replaced or kept whole, never doubled).
  let writing: Promise<{ rowIds: string[] }> | undefined;
  const write = () => {
    writing ??= env.checkpoint(`${step.id}/write`, async () => {
      await allRecorded;
      if (results.length === 0) return { rowIds: [] as string[] };
      const columns = await ensured;
      const sent = await staging.flush();
      if (sent !== results.length || !stage)
        throw new Error(`${sent} rows staged for ${results.length} documents`);
      const key = columnIdOf(step, columns, EXTRACTION_COLUMNS.documentId);
      return { rowIds: await (await stage).replace(key) };
    });
    return writing;
  };
  let written: { rowIds: string[] };
  try {
    const begun = mapLimit(todo, step.concurrency * 2, async (document, index) => {
      if (!wave.holds(index)) await wave.sent;
      try {
        await extractOne(document, index);
      } finally {
        wave.passed(index);
      }
    });
    async function extractOne(document: (typeof todo)[number], index: number) {
      if (columnsFailed) throw columnsFailed.error;
      let answered!: () => void;
      const modelDone = new Promise<void>((resolve) => {
        answered = resolve;
      });
      const result = env.checkpoint(
        `${step.id}/doc/${document.id}`,
        async () => {
          try {
            const pages = await readPages.pages(index, !wave.holds(index));
            return await withModel(() => {
              wave.passed(index);
              return extractDocument(step, env, request, document, pages);
            });
          } finally {
            answered();
          }
        },
        { grouped: true },
      );
      recorded[index] = result;
      // Its failure is thrown by the race or after the loop below; never left unhandled.
      result.then(
        (extraction) => {
          staging.add({ result: extraction, index });
          // At most one progress event every PROGRESS_MS, and the last (each one is a stored
          // event, a statement on the main thread: one every tenth document was ~100 a step),
          // not waited for: the live view's count is no reason to hold a document's place
          // (events are numbered in publish order, and publishing never fails).
          done++;
          const now = performance.now();
          if (done === todo.length || now - progressAt >= PROGRESS_MS) {
            progressAt = now;
            void env.progress(step.id, done, todo.length);
          }
        },
        () => {},
      );
      // A checkpoint found finished settles without asking the model.
      await Promise.race([modelDone, result]);
      readPages.done(index);
    }
    // An attempt ends only once every record it began has settled, so a retry never begins a
    // document whose record is still under way (and asks the model for it twice).
    (async () => {
      const failure = await begun.then(
        () => undefined,
        (error: unknown) => ({ error }),
      );
      const settled = await Promise.allSettled(recorded.filter(Boolean));
      if (failure) throw failure.error;
      for (const outcome of settled) {
        if (outcome.status === 'rejected') throw outcome.reason;
        results.push(outcome.value);
      }
    })().then(recordsSettled.resolve, recordsSettled.reject);
    const failed = await allRecorded.then(
      () => undefined,
      (error: unknown) => ({ error }),
    );
    // A write begun meanwhile fails with it (it waits for every record): the document's
    // failure is the step's.
    if (failed) {
      await writing?.catch(() => {});
      throw failed.error;
    }
    written = await write();
  } finally {
    await staging.settled();
    await writing?.catch(() => {});
    await stage?.then((opened) => opened.drop()).catch(() => {});
  }

  const usage = emptyUsage();
  const counts = { ok: 0, unverified: 0, failed: 0 };
  for (const result of results) {
    usage.inputTokens += result.usage.inputTokens;
    usage.outputTokens += result.usage.outputTokens;
    usage.costNano += result.usage.costNano;
    counts[result.status]++;
  }
  return {
    output: {
      datasetId: step.datasetId,
      documents: documents.length,
      extracted: results.length,
      skipped: documents.length - results.length,
      counts,
      calls: results.reduce((sum, result) => sum + result.calls, 0),
      mapReduced: results.filter((result) => result.chunks > 1).length,
      rows: results.slice(0, OUTPUT_ROWS).map((result, index) => {
        const rowId = written.rowIds[index];
        return {
          rowId,
          cite: rowId ? `[[row:${step.datasetId}/${rowId}]]` : null,
          documentId: result.documentId,
          document: result.name,
          status: result.status,
          chunks: result.chunks,
          values: result.values,
          citations: result.citations,
        };
      }),
    },
    usage,
  };
}
