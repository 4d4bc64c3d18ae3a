import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../../test/eventually.ts';
import { testBackends } from '../../test/test-platform.ts';
import { isAppError } from '../platform/app-error.ts';
import { openWorkflowTestEnv, type WorkflowTestEnv } from './workflow-test-helpers.ts';

/** The same id with its last hex digit changed, so it names no column (never the id itself). */
function otherId(id: string): string {
  const last = id.at(-1);
  return `${id.slice(0, -1)}${last === '0' ? '1' : '0'}`;
}

// Workflows on the real app (PGlite, and PostgreSQL when DATABASE_URL is set), the fake LLM
// server standing in for the provider: definitions, runs, retries, cancel, approvals, reruns.
describe.each(testBackends())('workflows on %s', { timeout: 120_000 }, (backend) => {
  let env: WorkflowTestEnv;
  let invoices: { id: string; columns: Record<string, string> };
  beforeAll(async () => {
    env = await openWorkflowTestEnv(backend);
    invoices = await env.dataset(
      'Invoices',
      ['Vendor', 'Amount'],
      [
        { Vendor: 'Acme', Amount: '120' },
        { Vendor: 'Acme', Amount: '80' },
        { Vendor: 'Globex', Amount: '9000' },
      ],
    );
    // A liveness bound: opening the app with job workers takes over a minute with both cores busy.
  }, 180_000);
  afterAll(async () => env?.close());

  const errorOf = async (promise: Promise<unknown>) => {
    const error = await promise.then(
      () => undefined,
      (caught: unknown) => caught,
    );
    if (!isAppError(error)) throw new Error(`expected an AppError, got ${String(error)}`);
    return error;
  };

  /** A SQL step `id` over the invoices. */
  const invoicesSql = (id: string, sql: string) => ({
    id,
    kind: 'sql' as const,
    datasetId: invoices.id,
    sql,
  });

  const investigate = (model: string) => ({
    inputs: [{ name: 'focus', default: 'large amounts' }],
    steps: [
      invoicesSql(
        'totals',
        'select "Vendor" as vendor, sum(cast("Amount" as integer)) as total from dataset group by 1 order by 2 desc',
      ),
      {
        id: 'ask',
        kind: 'llm' as const,
        model,
        prompt: 'Look for {{inputs.focus}} in:\n{{steps.totals.rows}}',
      },
      {
        id: 'report',
        kind: 'report' as const,
        title: 'Findings',
        markdown:
          '# Findings\n\n{{steps.ask.text}}\n\nTop vendor: {{steps.totals.rows.0.vendor}} ({{steps.totals.rows.0.total}})',
      },
    ],
  });

  /** An approval gate `gate` asking `message`, then a report `r`: a run waits at the gate. */
  const gateThenReport = (
    gate: string,
    message: string,
    report: { title: string; markdown: string },
  ) => ({
    steps: [
      { id: gate, kind: 'approval' as const, message },
      { id: 'r', kind: 'report' as const, ...report },
    ],
  });

  it('runs SQL → LLM → report, recording each step with tokens and cost', async () => {
    env.fake.reset();
    const workflow = await env.create(`Investigate ${backend}`, investigate('gpt-4o-mini'));
    const run = await env.runWorkflow(workflow.id, {
      inputs: { focus: 'duplicates' },
    });
    expect(run.status).toBe('completed');
    // (The SQL sandbox's first start may time out on a loaded machine: that is retried.)
    expect(run.steps.map((step) => [step.id, step.status])).toEqual([
      ['totals', 'completed'],
      ['ask', 'completed'],
      ['report', 'completed'],
    ]);
    expect(run.steps[1]!.attempts).toBe(1);
    // The model saw the SQL figures and the input, not numbers of its own.
    const prompt = JSON.stringify(env.fake.requests[0]?.body);
    expect(prompt).toContain('Look for duplicates');
    expect(prompt).toContain('| Globex | 9000 |');
    const ask = run.steps[1]!;
    expect(ask.outputTokens).toBeGreaterThan(0);
    expect(run.totals.outputTokens).toBe(ask.outputTokens);
    const report = run.steps[2]!.output as { markdown: string };
    expect(report.markdown).toContain('Top vendor: Globex (9000)');
    expect(report.markdown).toContain((run.steps[1]!.output as { text: string }).text);
    expect(run.steps.every((step) => step.durationMs !== null && step.durationMs >= 0)).toBe(true);
  });

  it('keeps a run on the version it started with', async () => {
    const workflow = await env.create(
      `Pinned ${backend}`,
      gateThenReport('wait', 'Go on?', { title: 'v1', markdown: 'one' }),
    );
    const started = await env.runWorkflow(workflow.id, undefined, ['waiting-approval']);
    await env.service.updateWorkflow(env.actor, env.projectId, workflow.id, {
      baseVersion: 1,
      definition: gateThenReport('wait', 'Go on?', { title: 'v2', markdown: 'two' }),
    });
    await env.service.decide(env.actor, env.projectId, started.id, 'wait', {
      decision: 'approved',
    });
    const run = await env.waitForRun(started.id, ['completed', 'failed']);
    expect(run.version).toBe(1);
    expect(run.steps[1]!.output).toMatchObject({ title: 'v1', markdown: 'one', unresolved: 0 });
    // A stale base version is refused: no lost update.
    const stale = await errorOf(
      env.service.updateWorkflow(env.actor, env.projectId, workflow.id, {
        baseVersion: 1,
        definition: { steps: [{ id: 'r', kind: 'report', title: 'x', markdown: 'x' }] },
      }),
    );
    expect(stale.status).toBe(409);
  });

  it('retries a step after a provider 5xx, with backoff, and records the attempts', async () => {
    env.fake.reset();
    env.waits.length = 0;
    const workflow = await env.create(`Retry ${backend}`, {
      steps: [
        { id: 'ask', kind: 'llm', model: 'gpt-4o-mini@fail-times=1,status=503', prompt: 'Say hi' },
      ],
    });
    const run = await env.runWorkflow(workflow.id);
    expect(run.status).toBe('completed');
    expect(run.steps[0]).toMatchObject({ status: 'completed', attempts: 2 });
    expect(env.fake.requests.map((request) => request.status)).toEqual([503, 200]);
    expect(env.waits).toHaveLength(1);
  });

  it('fails a run at the step that fails for good, keeping earlier outputs; resume retries that step', async () => {
    env.fake.reset();
    const workflow = await env.create(`Fails ${backend}`, {
      steps: [
        invoicesSql('count', 'select count(*) as n from dataset'),
        {
          id: 'ask',
          kind: 'llm',
          model: 'gpt-4o-mini@fail-times=3,status=500',
          prompt: 'n = {{steps.count.rows.0.n}}',
          retries: 1,
        },
      ],
    });
    const failed = await env.runWorkflow(workflow.id);
    expect(failed.status).toBe('failed');
    expect(failed.failedStep).toBe('ask');
    expect(failed.error?.code).toMatch(/^PROVIDER_/);
    expect(failed.steps[0]).toMatchObject({ id: 'count', status: 'completed' });
    expect(failed.steps[1]).toMatchObject({ status: 'failed', attempts: 2 });
    // "Retry step" goes on from `ask` (its third request fails too, the fourth answers);
    // `count` is not run again.
    await env.service.resumeRun(env.actor, env.projectId, failed.id);
    const resumed = await env.waitForRun(failed.id, ['completed', 'failed']);
    expect(resumed.status).toBe('completed');
    expect(resumed.steps[0]!.attempts).toBe(1);
    expect(env.fake.requests.map((request) => request.status)).toEqual([500, 500, 500, 200]);
  });

  it('cancel mid-step aborts the step’s provider call', async () => {
    env.fake.reset();
    const workflow = await env.create(`Cancel ${backend}`, {
      steps: [{ id: 'ask', kind: 'llm', model: 'gpt-4o-mini@hang', prompt: 'Think forever' }],
    });
    const started = await env.service.startRun(env.actor, env.projectId, workflow.id);
    // The fake server records a hung request as it arrives (its waitFor wakes on updates).
    await eventually(
      () => env.fake.requests.length,
      (count) => count === 1,
      { what: 'the call' },
    );
    await env.service.cancelRun(env.actor, env.projectId, started.id);
    const run = await env.waitForRun(started.id, ['cancelled']);
    expect(run.status).toBe('cancelled');
    expect(run.steps[0]!.attempts).toBe(1);
    await eventually(
      () => env.fake.requests[0]?.aborted,
      (aborted) => aborted === true,
      { what: 'the aborted call' },
    );
    expect(env.fake.requests).toHaveLength(1);
  });

  it('a rejected approval fails the run; a second decision is refused', async () => {
    const workflow = await env.create(
      `Reject ${backend}`,
      gateThenReport('ok', 'Publish?', { title: 'R', markdown: 'x' }),
    );
    const waiting = await env.runWorkflow(workflow.id, undefined, ['waiting-approval']);
    expect(waiting.waitingFor).toBe('ok');
    expect(
      (await errorOf(env.service.resumeRun(env.actor, env.projectId, waiting.id))).status,
    ).toBe(409);
    await env.service.decide(env.actor, env.projectId, waiting.id, 'ok', {
      decision: 'rejected',
      note: 'numbers look off',
    });
    const run = await env.waitForRun(waiting.id, ['failed', 'completed']);
    expect(run.status).toBe('failed');
    expect(run.error?.message).toContain('numbers look off');
    const again = await errorOf(
      env.service.decide(env.actor, env.projectId, waiting.id, 'ok', { decision: 'approved' }),
    );
    expect(again.status).toBe(409);
  });

  it('reruns from a chosen step, reusing earlier outputs without calling the provider again', async () => {
    env.fake.reset();
    const workflow = await env.create(`Rerun ${backend}`, investigate('gpt-4o-mini@vary'));
    const first = await env.runWorkflow(workflow.id);
    expect(first.status).toBe('completed');
    expect(env.fake.requests).toHaveLength(1);
    const second = await env.service.rerunFrom(env.actor, env.projectId, first.id, {
      fromStep: 'report',
    });
    const run = await env.waitForRun(second.id);
    expect(run.rerunOf).toBe(first.id);
    expect(run.steps.map((step) => step.status)).toEqual(['reused', 'reused', 'completed']);
    expect(env.fake.requests).toHaveLength(1);
    expect(run.steps[2]!.output).toEqual(first.steps[2]!.output);
    const bad = await errorOf(
      env.service.rerunFrom(env.actor, env.projectId, first.id, { fromStep: 'nope' }),
    );
    expect(bad.details).toMatchObject({ issues: [{ path: 'fromStep' }] });
  });

  it('a false branch skips its steps', async () => {
    env.fake.reset();
    const workflow = await env.create(`Branch ${backend}`, {
      steps: [
        invoicesSql(
          'big',
          'select count(*) as n from dataset where cast("Amount" as integer) > 100000',
        ),
        {
          id: 'any',
          kind: 'branch',
          when: { step: 'big', path: 'rows.0.n', op: 'gt', value: 0 },
          skipIfFalse: ['ask'],
        },
        { id: 'ask', kind: 'llm', model: 'gpt-4o-mini', prompt: 'Explain {{steps.big.rows}}' },
        { id: 'r', kind: 'report', title: 'R', markdown: 'done' },
      ],
    });
    const run = await env.runWorkflow(workflow.id);
    expect(run.steps.map((step) => [step.id, step.status])).toEqual([
      ['big', 'completed'],
      ['any', 'completed'],
      ['ask', 'skipped'],
      ['r', 'completed'],
    ]);
    expect(env.fake.requests).toHaveLength(0);
  });

  it('answers 400 naming the step and field for a missing dataset, a missing column, a cycle, an unknown kind', async () => {
    const post = (definition: unknown) =>
      env.t.app.inject({
        method: 'POST',
        url: `/api/projects/${env.projectId}/workflows`,
        headers: env.members.editor.headers,
        payload: { name: `Bad ${Math.random()}`, definition },
      });
    const cases: [unknown, string][] = [
      [
        {
          steps: [
            {
              id: 'q',
              kind: 'sql',
              datasetId: '0190f0a0-0000-7000-8000-00000000dead',
              sql: 'select 1',
            },
          ],
        },
        'steps.0.datasetId',
      ],
      [
        {
          steps: [
            {
              id: 'fill',
              kind: 'ai-column',
              datasetId: invoices.id,
              columnId: otherId(invoices.columns.Vendor!),
            },
          ],
        },
        'steps.0.columnId',
      ],
      [
        {
          steps: [
            { id: 'a', kind: 'report', title: 'A', markdown: '{{steps.b.text}}' },
            { id: 'b', kind: 'report', title: 'B', markdown: '{{steps.a.text}}' },
          ],
        },
        'steps.0.needs',
      ],
      [{ steps: [{ id: 'a', kind: 'shell', command: 'id' }] }, 'body.definition.steps.0.kind'],
    ];
    for (const [definition, path] of cases) {
      const response = await post(definition);
      expect(response.statusCode, path).toBe(400);
      const body = response.json() as {
        error: { code: string; details: { issues: { path: string }[] }; requestId: string };
      };
      expect(body.error.code).toBe('VALIDATION_ERROR');
      expect(body.error.requestId).toBeTruthy();
      expect(body.error.details.issues.map((issue) => issue.path)).toContain(path);
    }
    const list = await env.service.listWorkflows(env.actor, env.projectId);
    expect(list.some((workflow) => workflow.name.startsWith('Bad '))).toBe(false);
  });

  it('keeps workflows to their project and roles', async () => {
    const workflow = await env.create(`Private ${backend}`, {
      steps: [{ id: 'r', kind: 'report', title: 'R', markdown: 'x' }],
    });
    const outsider = await errorOf(
      env.service.getWorkflow(env.members.outsider.actor, env.projectId, workflow.id),
    );
    expect(outsider.status).toBe(404);
    const viewer = await errorOf(
      env.service.startRun(env.members.viewer.actor, env.projectId, workflow.id),
    );
    expect(viewer.status).toBe(403);
    const unknownInput = await errorOf(
      env.service.startRun(env.actor, env.projectId, workflow.id, { inputs: { nope: 'x' } }),
    );
    expect(unknownInput.details).toMatchObject({ issues: [{ path: 'inputs.nope' }] });
  });

  /**
   * The editor's DELETE of `url`, refused (409, naming the workflow `workflowName`) while that
   * workflow uses the thing, which stays readable; then forced (204). Answers the refusal's
   * `usedBy`.
   */
  const deleteRefusedThenForced = async (url: string, workflowName: string) => {
    const headers = env.members.editor.headers;
    const refused = await env.t.app.inject({ method: 'DELETE', url, headers });
    expect(refused.statusCode).toBe(409);
    const body = refused.json() as {
      error: { message: string; details: { usedBy: { kind: string; id: string }[] } };
    };
    expect(body.error.message).toContain(`workflow "${workflowName}"`);
    expect((await env.t.app.inject({ method: 'GET', url, headers })).statusCode).toBe(200);

    const forced = await env.t.app.inject({ method: 'DELETE', url: `${url}?force=true`, headers });
    expect(forced.statusCode).toBe(204);
    return body.error.details.usedBy;
  };

  it('refuses to delete a dataset a workflow uses (409 naming it) unless forced, and audits the forced delete', async () => {
    const used = await env.dataset(`Used ${backend}`, ['A'], [{ A: '1' }]);
    const workflow = await env.create(`Uses it ${backend}`, {
      steps: [
        { id: 'q', kind: 'sql', datasetId: used.id, sql: 'select count(*) as n from dataset' },
      ],
    });
    const usedBy = await deleteRefusedThenForced(
      `/api/projects/${env.projectId}/datasets/${used.id}`,
      `Uses it ${backend}`,
    );
    expect(usedBy.map((user) => user.id)).toEqual([workflow.id]);
    const audit = await env.t.platform.database.db
      .selectFrom('audit_log')
      .select(['action', 'entity_id'])
      .where('action', '=', 'dataset.delete-forced')
      .where('entity_id', '=', used.id)
      .execute();
    expect(audit).toHaveLength(1);

    // A deleted workflow no longer holds its datasets.
    const other = await env.dataset(`Other ${backend}`, ['A'], [{ A: '1' }]);
    const holder = await env.create(`Holds ${backend}`, {
      steps: [{ id: 'q', kind: 'sql', datasetId: other.id, sql: 'select 1 as one from dataset' }],
    });
    await env.service.deleteWorkflow(env.actor, env.projectId, holder.id);
    const freed = await env.t.app.inject({
      method: 'DELETE',
      url: `/api/projects/${env.projectId}/datasets/${other.id}`,
      headers: env.members.editor.headers,
    });
    expect(freed.statusCode).toBe(204);
  });

  it('runs an llm step with a chat agent, and refuses to delete the agent (409 naming the workflow) unless forced', async () => {
    const agents = env.t.app.features.chat.agents;
    const agent = await agents.createAgent(env.actor, env.projectId, {
      name: `Auditor ${backend}`,
      instructions: `You are the careful auditor ${backend}.`,
      model: 'gpt-4o-mini',
      provider: env.providerId,
    } as never);
    const missing = await errorOf(
      env.create(`Agentless ${backend}`, {
        steps: [
          { id: 'ask', kind: 'llm', agentId: otherId(agent.id), prompt: 'hi' },
          { id: 'ask2', kind: 'llm', prompt: 'hi' },
        ],
      }),
    );
    expect(missing.status).toBe(400);
    expect(missing.details).toMatchObject({
      issues: [
        { path: 'steps.0.agentId', message: expect.stringContaining('no agent') },
        { path: 'steps.1.model' },
      ],
    });

    const workflow = await env.create(`With agent ${backend}`, {
      steps: [{ id: 'ask', kind: 'llm', agentId: agent.id, prompt: 'Agent check {{inputs.x}}' }],
      inputs: [{ name: 'x', default: backend }],
    });
    expect((await env.runWorkflow(workflow.id)).status).toBe('completed');
    const asked = env.fake.requests.find((request) =>
      JSON.stringify(request.body).includes(`Agent check ${backend}`),
    );
    expect(JSON.stringify(asked?.body)).toContain(`You are the careful auditor ${backend}.`);
    expect(asked?.model).toBe('gpt-4o-mini');

    const usedBy = await deleteRefusedThenForced(
      `/api/projects/${env.projectId}/chat/agents/${agent.id}`,
      `With agent ${backend}`,
    );
    expect(usedBy).toEqual([expect.objectContaining({ kind: 'workflow', id: workflow.id })]);
    const audit = await env.t.platform.database.db
      .selectFrom('audit_log')
      .select(['action', 'summary'])
      .where('entity_id', '=', agent.id)
      .where('action', 'like', 'chat-agent.delete%')
      .execute();
    expect(audit.map((entry) => entry.action)).toEqual(['chat-agent.delete-forced']);
    expect(JSON.stringify(audit[0]!.summary)).toContain(workflow.id);

    // A run after the forced delete fails at the step, naming the agent.
    const failed = await env.runWorkflow(workflow.id);
    expect(failed.status).toBe('failed');
    expect(failed.failedStep).toBe('ask');
    expect(failed.error?.code).toBe('NOT_FOUND');
  });

  it('streams a run live over SSE (run-updated per change) and resumes after Last-Event-ID', async () => {
    const workflow = await env.create(`Live ${backend}`, {
      steps: [
        invoicesSql('count', 'select count(*) as n from dataset'),
        { id: 'gate', kind: 'approval', message: 'Go on?' },
      ],
    });
    const started = await env.runWorkflow(workflow.id, undefined, ['waiting-approval']);
    const address = await env.t.app.listen({ port: 0, host: '127.0.0.1' });
    const url = `${address}/api/projects/${env.projectId}/workflow-runs/${started.id}/events`;
    const headers = env.members.viewer.headers;

    const first = await readSse(url, { ...headers, 'last-event-id': '0' }, (events) =>
      events.some((event) => event.data.status === 'waiting-approval'),
    );
    expect(first.every((event) => event.type === 'run-updated')).toBe(true);
    expect(first.map((event) => event.id)).toEqual(first.map((_, index) => index + 1));
    // The step's own changes are in the stream: running, then completed.
    const countStatuses = first.map(
      (event) =>
        (event.data.steps as { id: string; status: string }[]).find((step) => step.id === 'count')
          ?.status,
    );
    expect(countStatuses).toContain('running');
    expect(countStatuses).toContain('completed');
    const lastSeen = first.at(-1)!.id;

    await env.service.decide(env.actor, env.projectId, started.id, 'gate', {
      decision: 'approved',
    });
    const rest = await readSse(url, { ...headers, 'last-event-id': String(lastSeen) }, (events) =>
      events.some((event) => event.data.status === 'completed'),
    );
    expect(rest[0]!.id).toBe(lastSeen + 1);
    expect(rest.at(-1)!.data).toMatchObject({ status: 'completed' });

    const outsider = await env.t.app.inject({
      method: 'GET',
      url: `/api/projects/${env.projectId}/workflow-runs/${started.id}/events`,
      headers: env.members.outsider.headers,
    });
    expect(outsider.statusCode).toBe(404);
  });

  it('exports a dataset and the report into the run as files; a wrong export answers 400 naming the field', async () => {
    const bad = async (step: Record<string, unknown>) =>
      (
        await errorOf(
          env.create(`Bad export ${backend}`, {
            steps: [
              { id: 'rep', kind: 'report', title: 'R', markdown: 'Hello' },
              { id: 'out', kind: 'export', ...step } as never,
            ],
          }),
        )
      ).details;
    expect(await bad({ format: 'csv' })).toMatchObject({
      issues: [{ path: 'steps.1.datasetId', message: expect.stringContaining('either') }],
    });
    expect(await bad({ reportStep: 'rep', format: 'xlsx' })).toMatchObject({
      issues: [{ path: 'steps.1.format' }],
    });
    expect(await bad({ datasetId: invoices.id, format: 'html' })).toMatchObject({
      issues: [{ path: 'steps.1.format' }],
    });
    expect(await bad({ reportStep: 'nope', format: 'md' })).toMatchObject({
      issues: [{ path: 'steps.1.reportStep', message: 'no step "nope"' }],
    });
    expect(await bad({ datasetId: otherId(invoices.id), format: 'csv' })).toMatchObject({
      issues: [{ path: 'steps.1.datasetId' }],
    });

    const workflow = await env.create(`Exports ${backend}`, {
      steps: [
        {
          id: 'rep',
          kind: 'report',
          title: 'Totals',
          markdown: '# Totals\n\n<script>alert(1)</script> Acme billed twice.',
        },
        { id: 'sheet', kind: 'export', datasetId: invoices.id, format: 'csv' },
        { id: 'page', kind: 'export', reportStep: 'rep', format: 'html' },
      ],
    });
    const run = await env.runWorkflow(workflow.id);
    expect(run.status).toBe('completed');
    expect(run.steps.find((step) => step.id === 'sheet')?.output).toMatchObject({
      file: 'sheet.csv',
      rows: 3,
    });
    const url = `/api/projects/${env.projectId}/workflow-runs/${run.id}/files`;
    const headers = env.members.viewer.headers;
    const csv = await env.t.app.inject({ method: 'GET', url: `${url}/sheet`, headers });
    expect(csv.statusCode).toBe(200);
    expect(csv.headers['content-disposition']).toBe('attachment; filename="sheet.csv"');
    expect(csv.body).toContain('Globex');
    expect(csv.body.trim().split('\n')).toHaveLength(4);
    const html = await env.t.app.inject({ method: 'GET', url: `${url}/page`, headers });
    expect(html.statusCode).toBe(200);
    expect(html.body).toContain('Acme billed twice.');
    expect(html.body).not.toContain('<script>');
    // A step that wrote no file, and an outsider, see nothing.
    expect((await env.t.app.inject({ method: 'GET', url: `${url}/rep`, headers })).statusCode).toBe(
      404,
    );
    const outsider = await env.t.app.inject({
      method: 'GET',
      url: `${url}/sheet`,
      headers: env.members.outsider.headers,
    });
    expect(outsider.statusCode).toBe(404);
  });
});

interface SseEvent {
  id: number;
  type: string;
  data: Record<string, unknown>;
}

/** Reads an SSE response until `until` accepts the events so far; then closes it. */
async function readSse(
  url: string,
  headers: Record<string, string>,
  until: (events: SseEvent[]) => boolean,
): Promise<SseEvent[]> {
  const controller = new AbortController();
  const response = await fetch(url, { headers, signal: controller.signal });
  expect(response.status).toBe(200);
  const events: SseEvent[] = [];
  let buffer = '';
  const decoder = new TextDecoder();
  try {
    for await (const chunk of response.body!) {
      buffer += decoder.decode(chunk as Uint8Array, { stream: true });
      let end = buffer.indexOf('\n\n');
      while (end >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const field = (name: string) =>
          block
            .split('\n')
            .find((line) => line.startsWith(`${name}: `))
            ?.slice(name.length + 2);
        const id = field('id');
        if (id !== undefined)
          events.push({
            id: Number(id),
            type: field('event') ?? 'message',
            data: JSON.parse(field('data') ?? 'null') as Record<string, unknown>,
          });
        end = buffer.indexOf('\n\n');
      }
      if (until(events)) return events;
    }
  } finally {
    controller.abort();
  }
  throw new Error('the stream ended first');
}
