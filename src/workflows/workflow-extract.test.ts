import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../../test/eventually.ts';
import { SAMPLE_DOCUMENTS } from '../documents/document-samples.ts';
import { sampleAnswer } from '../documents/document-samples-test-helpers.ts';
import { isAppError } from '../platform/app-error.ts';
import { chunkPages, normalizedPages, typedValue, verifyCitation } from './workflow-extract.ts';
import { parseCitation, reportHtml } from './workflow-report.ts';
import { fromTemplateSchema, TEMPLATE_NAMES } from './workflow-templates.ts';
import { openWorkflowTestEnv, type WorkflowTestEnv } from './workflow-test-helpers.ts';

describe('chunkPages', () => {
  it.each([
    ['short pages share a chunk', ['aaaa', 'bbbb', 'cc'], 10, [[1, 2, 3]]],
    [
      'a chunk closes when the next page does not fit',
      ['aaaaaa', 'bbbbbb', 'cc'],
      10,
      [[1], [2, 3]],
    ],
    [
      'a page longer than a chunk is cut into parts of that page',
      ['a'.repeat(25)],
      10,
      [[1], [1], [1]],
    ],
    ['no pages, no chunks', [], 10, []],
  ])('%s', (_name, pages, limit, expected) => {
    const chunks = chunkPages(pages as string[], limit as number);
    expect(chunks.map((chunk) => chunk.map((part) => part.page))).toEqual(expected);
    expect(
      chunks.every(
        (chunk) => chunk.reduce((sum, part) => sum + part.text.length, 0) <= (limit as number),
      ),
    ).toBe(true);
    // Nothing is dropped.
    expect(
      chunks
        .flat()
        .map((part) => part.text)
        .join(''),
    ).toBe((pages as string[]).join(''));
  });
});

describe('verifyCitation', () => {
  const pages = ['Vendor:  Acme\nSupplies', 'Total due: 1480.00'];
  it.each([
    ['on its page, whitespace and case aside', 1, 'vendor: acme supplies', true, undefined],
    ['on another page', 1, 'Total due: 1480.00', false, 'the quote is on page 2, not 1'],
    ['nowhere', 2, 'Total due: 9999', false, 'the quote is not in page 2'],
    ['a page past the end', 3, 'Total', false, 'no page 3'],
    ['no quote', 1, '  ', false, 'no quote'],
  ])('%s', (_name, page, quote, verified, reason) => {
    const citation = verifyCitation('d', pages, page, quote);
    expect(citation.verified).toBe(verified);
    expect(citation.reason).toBe(reason);
  });

  it("gives the same answers when a document's fields share its normalized pages, in any order", () => {
    const asked = [
      [2, 'TOTAL DUE: 1480.00'],
      [1, 'Total due: 1480.00'],
      [1, 'vendor: acme supplies'],
      [2, 'Total due: 9999'],
    ] as const;
    const shared = normalizedPages(pages);
    for (const [page, quote] of asked)
      expect(verifyCitation('d', pages, page, quote, shared)).toEqual(
        verifyCitation('d', pages, page, quote),
      );
    expect(verifyCitation('d', pages, 1, 'Total due: 1480.00', shared).reason).toBe(
      'the quote is on page 2, not 1',
    );
  });
});

describe('typedValue', () => {
  it.each([
    [{ type: 'number' as const }, '1,200.50', 1200.5, undefined],
    [{ type: 'number' as const }, 'lots', null, '"lots" is not a number'],
    [{ type: 'integer' as const }, 2.5, null, '2.5 is not an integer'],
    [{ type: 'string' as const, format: 'date' as const }, '2026-10-03', '2026-10-03', undefined],
    [{ type: 'string' as const, format: 'date' as const }, 'soon', null, '"soon" is not a date'],
    [{ type: 'boolean' as const }, 'yes', null, '"yes" is not true or false'],
    [{ type: 'string' as const }, null, null, undefined],
  ])('%j ← %j', (field, value, expected, problem) => {
    expect(typedValue(field, value)).toEqual(
      problem ? { value: expected, problem } : { value: expected },
    );
  });
});

describe('report citations and HTML', () => {
  it('parses row and page citations, and refuses anything else', () => {
    const id = '0190a0b0-0000-7000-8000-000000000001';
    expect(parseCitation('row', `${id}/12`)).toEqual({ kind: 'row', datasetId: id, rowId: '12' });
    expect(parseCitation('doc', `${id}#p3`)).toEqual({ kind: 'doc', documentId: id, page: 3 });
    expect(parseCitation('doc', id)).toEqual({ kind: 'doc', documentId: id, page: null });
    for (const bad of [`${id}/0`, `${id}/x`, 'x/1', `${id}/1; drop`])
      expect(parseCitation('row', bad)).toBeUndefined();
    expect(parseCitation('doc', `${id}#p0`)).toBeUndefined();
  });

  it('renders no markup from the report text: raw HTML escaped, unsafe links dropped (attack)', () => {
    const html = reportHtml({
      title: '<script>alert("title")</script>',
      markdown: [
        '# Findings',
        '<script>alert("x")</script>',
        'Text <img src=x onerror="alert(1)"> and <a href="javascript:alert(2)">a link</a>.',
        '[click](javascript:alert(3)) [data](data:text/html,<script>alert(4)</script>) [ok](/projects/p/datasets/d?row=1)',
        '![tracker](https://evil.example/pixel.png)',
        '<iframe src="https://evil.example"></iframe><svg onload="alert(5)"></svg>',
        '| a | b |\n| --- | --- |\n| <b onmouseover="alert(6)">x</b> | [y](vbscript:msgbox) |',
      ].join('\n\n'),
    });
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toMatch(/<(img|iframe|svg|b)\b/i);
    expect(html).not.toMatch(/href="(javascript|data|vbscript):/i);
    expect(html).not.toMatch(/<[^>]+\son\w+=/i);
    expect(html).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;');
    expect(html).toContain(
      '<a href="/projects/p/datasets/d?row=1" rel="noopener noreferrer nofollow">ok</a>',
    );
    expect(html).toContain('<title>&lt;script&gt;');
  });
});

// The whole flow on the real app (PGlite, DuckDB, documents, sheets, SQL sandbox), the fake LLM
// answering as a model that reads the sample documents would.
describe('extraction, findings report and templates', { timeout: 180_000 }, () => {
  let env: WorkflowTestEnv;
  let collectionId: string;
  beforeAll(async () => {
    env = await openWorkflowTestEnv();
    const documents = env.t.app.features.documents.documents;
    const added = await documents.addSamples(env.actor, env.projectId);
    collectionId = added.datasetId;
    await documents.extractQueued(collectionId);
    await eventually(
      () => documents.list(env.actor, env.projectId, collectionId),
      (list) => list.counts.ready === SAMPLE_DOCUMENTS.length,
      { what: 'sample documents extracted' },
    );
    env.fake.answerWhen(/^Document "/, sampleAnswer);
    // The model's summary cites the first finding's row as given, and a row that does not exist;
    // it also tries markup on the HTML export.
    env.fake.answerWhen('Findings about', (prompt) => {
      const row = /\[\[row:[^\]]+\]\]/.exec(prompt)?.[0] ?? '';
      const bogus = row.replace(/\/\d+\]\]$/, '/999999]]');
      return `- Initech billed far more than anyone else ${row}\n- A made-up finding ${bogus}\n- <script>alert("summary")</script><img src=x onerror=alert(1)>`;
    });
    // A hang guard for a loaded machine (the app, six documents extracted), not a speed limit.
  }, 300_000);
  afterAll(async () => env?.close());

  const inject = (method: 'GET' | 'POST' | 'DELETE', url: string, payload?: unknown) =>
    env.t.app.inject({
      method,
      url: `/api/projects/${env.projectId}${url}`,
      headers: env.members.editor.headers,
      ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
    });

  /** The kinds of the steps the investigate-documents template makes, in order. */
  const INVESTIGATE_STEP_KINDS = ['import-documents', 'extract', 'sql', 'sql', 'llm', 'report'];

  /** The investigate-documents template on gpt-4o-mini over `documents`: previewed or made. */
  const investigateDocuments = (
    action: '/preview' | '',
    documents: { sampleDocuments: true } | { documentsDatasetId: string },
  ) =>
    inject('POST', `/workflows/from-template${action}`, {
      template: 'investigate-documents',
      model: 'gpt-4o-mini',
      ...documents,
    });

  let workflowId: string;
  let runId: string;
  let sheetId: string;

  it('lists the templates with the fields their requests take, and previews one without making anything', async () => {
    const listed = await inject('GET', '/workflows/templates');
    expect(listed.statusCode).toBe(200);
    const templates = (
      listed.json() as { items: { template: string; fields: { name: string }[] }[] }
    ).items;
    // The picker's fields are the request's: none missing, none extra.
    expect(templates.map((template) => template.template)).toEqual(TEMPLATE_NAMES);
    for (const option of fromTemplateSchema.options) {
      const info = templates.find((template) => template.template === option.shape.template.value)!;
      expect(info.fields.map((field) => field.name).sort()).toEqual(
        Object.keys(option.shape)
          .filter((key) => key !== 'template')
          .sort(),
      );
    }

    const sheets = env.t.app.features.sheets.sheets;
    const datasetsBefore = (await sheets.listDatasets(env.actor, env.projectId)).length;
    const workflowsBefore = (await env.service.listWorkflows(env.actor, env.projectId)).length;
    const preview = await investigateDocuments('/preview', { sampleDocuments: true });
    expect(preview.statusCode).toBe(200);
    const body = preview.json() as {
      name: string;
      creates: { kind: string; name: string; documents?: number; columns?: string[] }[];
      steps: { id: string; kind: string }[];
    };
    expect(body.name).toBe('Investigate Sample invoices');
    expect(body.creates).toEqual([
      { kind: 'documents', name: 'Sample invoices', documents: SAMPLE_DOCUMENTS.length },
      expect.objectContaining({ kind: 'dataset', name: 'Sample invoices — extraction' }),
    ]);
    expect(body.creates[1]!.columns).toContain('amount');
    expect(body.steps.map((step) => step.kind)).toEqual(INVESTIGATE_STEP_KINDS);
    // Nothing was made or saved.
    expect((await sheets.listDatasets(env.actor, env.projectId)).length).toBe(datasetsBefore);
    expect((await env.service.listWorkflows(env.actor, env.projectId)).length).toBe(
      workflowsBefore,
    );

    const missing = await inject('POST', '/workflows/from-template/preview', {
      template: 'compare-models',
      prompt: 'Say {{Text}}',
      modelA: 'a',
      modelB: 'b',
    });
    expect(missing.statusCode).toBe(400);
    expect(missing.body).toContain('datasetId');
    const unknown = await inject('POST', '/workflows/from-template/preview', {
      template: 'enrich-dataset',
      datasetId: '0190a0a0-0000-7000-8000-000000000001',
      prompt: 'Say {{Text}}',
      columnName: 'Said',
      model: 'a',
    });
    expect(unknown.statusCode).toBe(404);
  });

  it('investigates the sample documents end to end: extraction with verified citations, map-reduce, anomaly SQL, a cited report', async () => {
    env.fake.reset();
    const created = await investigateDocuments('', { documentsDatasetId: collectionId });
    expect(created.statusCode).toBe(201);
    const workflow = created.json() as {
      id: string;
      definition: { steps: { id: string; kind: string; datasetId?: string }[] };
    };
    workflowId = workflow.id;
    expect(workflow.definition.steps.map((step) => step.kind)).toEqual(INVESTIGATE_STEP_KINDS);
    sheetId = workflow.definition.steps[1]!.datasetId!;

    const started = await env.service.startRun(env.actor, env.projectId, workflowId, {
      inputs: { subject: 'October invoices' },
    });
    runId = started.id;
    const run = await env.waitForRun(runId);
    expect(run.error ?? null).toBeNull();
    expect(run.status).toBe('completed');

    // The long statement was read in three page chunks, then reduced; the rest in one call each.
    const prompts = env.fake.requests.map((request) => JSON.stringify(request.body));
    const statement = prompts.filter((text) => text.includes('statement-umbrella-st-4410.pdf'));
    expect(statement.filter((text) => /part \d\/3/.test(text))).toHaveLength(3);
    expect(statement.filter((text) => text.includes('was read in 3 parts'))).toHaveLength(1);
    expect(prompts.filter((text) => text.includes('Document \\"invoice-'))).toHaveLength(5);
    const extract = run.steps.find((step) => step.id === 'extract')!;
    expect(extract.output).toMatchObject({
      documents: 6,
      extracted: 6,
      mapReduced: 1,
      calls: 9,
      counts: { ok: 5, unverified: 1, failed: 0 },
    });
    expect(extract.outputTokens).toBeGreaterThan(0);

    // Typed values, each with its citation checked against the page text.
    const rows = (await env.service
      .getRun(env.actor, env.projectId, runId)
      .then((view) => view.steps.find((step) => step.id === 'extract')!.output)) as {
      rows: {
        document: string;
        status: string;
        values: Record<string, unknown>;
        citations: Record<string, { page: number; verified: boolean; reason?: string }>;
      }[];
    };
    const umbrella = rows.rows.find((row) => row.document.startsWith('statement'))!;
    expect(umbrella.values).toEqual({
      vendor: 'Umbrella Logistics',
      invoice_number: 'ST-4410',
      date: '2026-10-28',
      amount: 1480,
      currency: 'EUR',
    });
    expect(umbrella.citations.amount).toMatchObject({ page: 4, verified: true });
    const globex = rows.rows.find((row) => row.document.includes('globex'))!;
    expect(globex.status).toBe('unverified');
    expect(globex.citations.currency).toMatchObject({
      verified: false,
      reason: 'the quote is not in page 1',
    });

    // The sheet holds them durably: typed columns and the citations as JSON.
    const sql = await env.t.app.features.sheets.sheets.runSql(
      env.actor,
      env.projectId,
      sheetId,
      `select amount, json_extract_string("Citations", '$.amount.quote') as quote, "Extraction status" as status from dataset where vendor = 'Umbrella Logistics'`,
    );
    expect(sql.rows).toEqual([{ amount: 1480, quote: 'Total due: 1480.00', status: 'ok' }]);

    // Figures from SQL: the planted findings, each row citing its sheet row and page.
    const anomalies = run.steps.find((step) => step.id === 'anomalies')!.output as {
      rows: Record<string, unknown>[];
    };
    expect(anomalies.rows.map((row) => [row.invoice_number, row.amount])).toEqual([
      ['IT-3001', 98000],
      ['INV-1002', 950],
      ['INV-1002', 950],
    ]);
    const report = run.steps.find((step) => step.id === 'report')!.output as {
      markdown: string;
      citations: { valid: boolean; kind: string; reason?: string }[];
      unresolved: number;
    };
    expect(report.markdown).toContain('Total amount: 103680');
    expect(report.markdown).toContain(`(/projects/${env.projectId}/datasets/${sheetId}?row=`);
    expect(report.markdown).toMatch(
      /\[invoice-initech-3001\.txt, p\. 1\]\(\/projects\/[^)]+&page=1\)/,
    );
    // The model's made-up row is not shown as evidence.
    expect(report.unresolved).toBe(1);
    expect(report.citations.find((citation) => !citation.valid)?.reason).toBe('no such row');
    expect(report.markdown).toContain('A made-up finding **[unresolved citation]**');
    expect(report.citations.filter((citation) => citation.valid).length).toBeGreaterThanOrEqual(6);
  });

  it('exports the report as Markdown and as HTML where nothing from the model becomes markup (attack)', async () => {
    const markdown = await inject('GET', `/workflow-runs/${runId}/report?format=md`);
    expect(markdown.statusCode).toBe(200);
    expect(markdown.headers['content-type']).toMatch(/^text\/markdown/);
    expect(markdown.body).toContain('# Findings: October invoices');

    const html = await inject('GET', `/workflow-runs/${runId}/report?format=html`);
    expect(html.statusCode).toBe(200);
    expect(html.headers['content-type']).toMatch(/^text\/html/);
    expect(html.headers['content-security-policy']).toContain("default-src 'none'");
    expect(html.headers['x-content-type-options']).toBe('nosniff');
    expect(html.body).not.toMatch(/<script/i);
    expect(html.body).not.toMatch(/<img/i);
    expect(html.body).toContain('&lt;script&gt;alert(&quot;summary&quot;)&lt;/script&gt;');
    expect(html.body).toMatch(/<a href="\/projects\/[^"]+\/documents\?document=[^"]+&amp;page=1"/);

    const bad = await inject('GET', `/workflow-runs/${runId}/report?format=pdf`);
    expect(bad.statusCode).toBe(400);
    expect(JSON.stringify(bad.json())).toContain('format');
  });

  it('reruns next month without asking the model again for documents already in the sheet', async () => {
    env.fake.reset();
    const run = await env.runWorkflow(workflowId);
    expect(run.status).toBe('completed');
    expect(run.steps.find((step) => step.id === 'extract')!.output).toMatchObject({
      extracted: 0,
      skipped: 6,
      calls: 0,
    });
    expect(
      env.fake.requests.filter((request) => JSON.stringify(request.body).includes('Document \\"')),
    ).toHaveLength(0);
    const count = await env.t.app.features.sheets.sheets.runSql(
      env.actor,
      env.projectId,
      sheetId,
      'select count(*) as n from dataset',
    );
    expect(Number(count.rows[0]!.n)).toBe(6);
  });

  it('extracts every document again in mode `all`, replacing their rows: one row a document', async () => {
    const sheets = env.t.app.features.sheets.sheets;
    const rowIds = async () =>
      (
        await sheets.runSql(env.actor, env.projectId, sheetId, 'select _row_id from dataset')
      ).rows.map((row) => String(row._row_id));
    const before = await rowIds();
    expect(before).toHaveLength(6);
    const investigate = await env.service.getWorkflow(env.actor, env.projectId, workflowId);
    const extract = investigate.definition.steps.find((step) => step.kind === 'extract')!;
    const again = await env.service.createWorkflow(env.actor, env.projectId, {
      name: 'Extract all again',
      definition: {
        steps: [{ ...extract, needs: [], documentsDatasetId: collectionId, mode: 'all' }],
      },
    });
    env.fake.reset();
    const run = await env.runWorkflow(again.id);
    expect(run.status).toBe('completed');
    expect(run.steps[0]!.output).toMatchObject({ extracted: 6, skipped: 0, calls: 9 });
    const after = await rowIds();
    expect(after).toHaveLength(6);
    expect(after.filter((id) => before.includes(id))).toEqual([]);
    // The rows went through a stage (the in-memory cache catalog), dropped after the write.
    const [stages] = await env.t.platform.duckdb.query<{ tables: bigint }>(
      "select count(*) as tables from duckdb_columns() where database_name = 'sheet_cache' and column_name = '_order'",
    );
    expect(stages!.tables).toBe(0n);
    // The tests after this one count the workflows that read the collection.
    await env.service.deleteWorkflow(env.actor, env.projectId, again.id);
  });

  it('refuses to delete a document a workflow reads (409 naming it) unless forced, and audits the forced delete', async () => {
    const documents = await env.t.app.features.documents.documents.list(
      env.actor,
      env.projectId,
      collectionId,
    );
    const target = documents.items.find((item) => item.name === 'invoice-acme-1001.txt')!;
    const refused = await inject('DELETE', `/documents/${target.id}`);
    expect(refused.statusCode).toBe(409);
    const body = refused.json() as {
      error: { message: string; details: { usedBy: { id: string }[] } };
    };
    expect(body.error.details.usedBy.map((user) => user.id)).toEqual([workflowId]);
    expect(body.error.message).toContain('workflow "Investigate Sample invoices"');
    expect((await inject('GET', `/documents/${target.id}`)).statusCode).toBe(200);

    const forced = await inject('DELETE', `/documents/${target.id}?force=true`);
    expect(forced.statusCode).toBe(204);
    expect((await inject('GET', `/documents/${target.id}`)).statusCode).toBe(404);
    const after = await env.t.app.features.documents.documents.list(
      env.actor,
      env.projectId,
      collectionId,
    );
    expect(after.items).toHaveLength(SAMPLE_DOCUMENTS.length - 1);
    const audit = await env.t.platform.database.db
      .selectFrom('audit_log')
      .select(['action', 'summary'])
      .where('entity_id', '=', target.id)
      .execute();
    expect(audit).toHaveLength(1);
    expect(audit[0]!.action).toBe('document.delete-forced');
    expect(JSON.stringify(audit[0]!.summary)).toContain(workflowId);
  });

  it('answers 400 naming the field for a template without documents and a reserved field name', async () => {
    const missing = await inject('POST', '/workflows/from-template', {
      template: 'investigate-documents',
      model: 'gpt-4o-mini',
    });
    expect(missing.statusCode).toBe(400);
    expect(JSON.stringify(missing.json())).toContain('documentsDatasetId');
    const unknown = await inject('POST', '/workflows/from-template', { template: 'nope' });
    expect(unknown.statusCode).toBe(400);

    const sheet = await env.dataset('Reserved', ['A'], []);
    const error = await env
      .create('Reserved field', {
        steps: [
          {
            id: 'x',
            kind: 'extract',
            documentsDatasetId: collectionId,
            datasetId: sheet.id,
            model: 'gpt-4o-mini',
            schema: { type: 'object', properties: { Citations: { type: 'string' } } },
          },
        ],
      })
      .then(
        () => undefined,
        (caught: unknown) => caught,
      );
    expect(isAppError(error) && error.status).toBe(400);
    expect(isAppError(error) && JSON.stringify(error.details)).toContain(
      'steps.0.schema.properties.Citations',
    );
  });

  it('fails an extract step whose field clashes with a column of another case before asking the model', async () => {
    const sheet = await env.dataset('Clash', ['vendor'], []);
    const workflow = await env.create('Clash', {
      steps: [
        {
          id: 'extract',
          kind: 'extract',
          documentsDatasetId: collectionId,
          datasetId: sheet.id,
          model: 'gpt-4o-mini',
          schema: { type: 'object', properties: { Vendor: { type: 'string' } } },
        },
      ],
    });
    env.fake.reset();
    const run = await env.runWorkflow(workflow.id);
    expect(run.status).toBe('failed');
    const step = run.steps.find((candidate) => candidate.id === 'extract')!;
    expect(step.error).toMatchObject({ code: 'CONFLICT' });
    expect(JSON.stringify(step.error)).toContain('Vendor');
    expect(env.fake.requests).toHaveLength(0);
  });

  it("leaves cells answered from the response cache out of an AI column step's latency", async () => {
    // Two datasets with the same rows and an AI column of the same name, prompt and model: the
    // second one's cells send the first one's messages, so the response cache answers them.
    const rows = [{ Text: 'first note' }, { Text: 'second note' }];
    const first = await env.dataset('Notes', ['Text'], rows);
    const second = await env.dataset('Notes again', ['Text'], [...rows, { Text: 'third note' }]);
    const fill = async (datasetId: string) => {
      const made = await env.t.app.features.generation.aiColumns.createAiColumn(
        env.actor,
        env.projectId,
        datasetId,
        { name: 'Title', prompt: 'Title for {{Text}}', model: 'gpt-4o-mini', run: false },
      );
      const workflow = await env.create(`Fill ${datasetId}`, {
        steps: [
          { id: 'fill', kind: 'ai-column', datasetId, columnId: made.column.id, latency: true },
        ],
      });
      const run = await env.runWorkflow(workflow.id);
      expect(run.status).toBe('completed');
      return {
        columnId: made.column.id,
        latency: (run.steps[0]!.output as { latency: Record<string, number | null> }).latency,
      };
    };
    expect((await fill(first.id)).latency).toMatchObject({ timed: 2, cacheHits: 0 });
    // The third row is the one call the provider answers.
    const cached = await fill(second.id);
    expect(cached.latency).toMatchObject({ timed: 1, cacheHits: 2 });
    const window = await env.t.app.features.sheets.sheets.readWindow(
      env.actor,
      env.projectId,
      second.id,
      {},
    );
    const called = window.rows
      .map((row) => row.cells[cached.columnId]!)
      .filter((cell) => cell.attempts !== 0);
    expect(called).toHaveLength(1);
    expect(cached.latency.p50Ms).toBe(Math.round(called[0]!.latencyMs!));
    expect(cached.latency.maxMs).toBe(Math.round(called[0]!.latencyMs!));
  });

  it('enriches a dataset and compares two models from templates, with tokens and cost side by side', async () => {
    const reviews = await env.dataset(
      'Reviews',
      ['Text'],
      [{ Text: 'Great service' }, { Text: 'Too slow' }],
    );
    /** A workflow made from a template, run to its end. */
    const runTemplate = async (input: Record<string, unknown>) => {
      const made = await env.service.createFromTemplate(env.actor, env.projectId, input);
      return env.runWorkflow(made.id);
    };
    const enriched = await runTemplate({
      template: 'enrich-dataset',
      datasetId: reviews.id,
      prompt: 'Sentiment of {{Text}}',
      columnName: 'Sentiment',
      model: 'gpt-4o-mini',
    });
    expect(enriched.status).toBe('completed');
    const enrichReport = enriched.steps.at(-1)!.output as { markdown: string };
    expect(enrichReport.markdown).toContain(
      'Filled 2 of 2 rows (2 generated in this run, 0 errors)',
    );

    // A user column named as the SQL view once named model A's cell state: the latency
    // figures no longer read through that name, so it takes nothing from them.
    const compareOn = await env.dataset(
      'Reviews to compare',
      ['Text', 'A: gpt-4o-mini:state'],
      [
        { Text: 'Great service', 'A: gpt-4o-mini:state': 'not a state' },
        { Text: 'Too slow', 'A: gpt-4o-mini:state': 'not a state' },
      ],
    );
    const compared = await runTemplate({
      template: 'compare-models',
      datasetId: compareOn.id,
      prompt: 'Summarize {{Text}}',
      modelA: 'gpt-4o-mini',
      // The fake answers model B's calls 40 ms late at least: its latency shows.
      modelB: 'gpt-4o@latency=40',
    });
    expect(compared.status).toBe('completed');
    const markdown = (compared.steps.at(-1)!.output as { markdown: string }).markdown;
    const table = markdown.split('\n').filter((line) => /^\| gpt-4o/.test(line));
    expect(table).toHaveLength(2);
    // Per-cell latency side by side: what each column's cells recorded (read here through the
    // dataset's window, as the grid shows it), as median, 95th percentile, slowest and count.
    const sheets = env.t.app.features.sheets.sheets;
    const { columns } = await sheets.getDataset(env.actor, env.projectId, compareOn.id);
    const window = await sheets.readWindow(env.actor, env.projectId, compareOn.id, {});
    const expectedLatency = (columnName: string) => {
      const column = columns.find((candidate) => candidate.name === columnName)!;
      const ms = window.rows.map((row) => row.cells[column.id]!.latencyMs!).sort((x, y) => x - y);
      expect(ms).toHaveLength(2);
      const [low, high] = ms as [number, number];
      return {
        ms,
        cells: [low + (high - low) / 2, low + 0.95 * (high - low), high].map((value) =>
          String(Math.round(value)),
        ),
      };
    };
    const latencyA = expectedLatency('A: gpt-4o-mini');
    const latencyB = expectedLatency('B: gpt-4o@latency=40');
    expect(latencyB.ms[0]).toBeGreaterThanOrEqual(40);
    for (const [line, latency] of [
      [table[0]!, latencyA],
      [table[1]!, latencyB],
    ] as const) {
      const cells = line.split('|').map((cell) => cell.trim());
      expect(cells[2]).toBe('2'); // cells made
      expect(Number(cells[5])).toBeGreaterThan(0); // output tokens
      // p50, p95, slowest, cells timed, cache hits (none: `all` asks the model again).
      expect(cells.slice(8, 13)).toEqual([...latency.cells, '2', '0']);
    }
    expect(markdown).toContain('left out (counted under "cache hits")');
    expect(markdown).toMatch(/Same answer on \d+ of 2 rows/);
  });
});
