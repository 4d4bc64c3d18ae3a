import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createProjectWithMembers,
  createSignedInUser,
  type ProjectWithMembers,
  type TestSession,
} from '../../test/factories.ts';
import { registerTestSecret } from '../../test/leak-scan.ts';
import { createTestApp, type TestApp } from '../../test/test-platform.ts';
import { type FakeLlm, startFakeLlm } from '../../tools/fake-llm/fake-llm-server.ts';
import { GPT_4O_MINI_CATALOG_PRICE, UNPRICED_MODEL } from './llm-price-test-helpers.ts';

const KEY = 'sk-routes-test-key-abcdefghijklmnopqrstuvwxyz';
registerTestSecret('provider-key', KEY);

let t: TestApp;
let fake: FakeLlm;
let team: ProjectWithMembers;
let admin: TestSession;
let providerId: string;

beforeAll(async () => {
  fake = await startFakeLlm({ apiKey: KEY });
  t = await createTestApp({ startJobs: false });
  team = await createProjectWithMembers(t);
  admin = await createSignedInUser(t, { isAdmin: true });
});
afterAll(async () => {
  await t?.close();
  await fake?.close();
});

const base = () => `/api/projects/${team.project.id}/llm`;

async function inject(
  session: TestSession,
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
  url: string,
  payload?: Record<string, unknown>,
) {
  return t.app.inject({
    method,
    url,
    headers: session.headers,
    ...(payload === undefined ? {} : { payload }),
  });
}

/** `session`'s POST of `payload` to `url`, which must answer 201 Created. */
async function postCreated(session: TestSession, url: string, payload: Record<string, unknown>) {
  const response = await inject(session, 'POST', url, payload);
  expect(response.statusCode).toBe(201);
  return response;
}

/** `session` connects a provider on the fake server to the project at `llmBase` (201). */
function connectFake(
  session: TestSession,
  llmBase: string,
  provider: { name: string; kind: string; models: string[]; maxConcurrency?: number },
) {
  return postCreated(session, `${llmBase}/providers`, {
    ...provider,
    baseUrl: `${fake.url}/v1`,
    apiKey: KEY,
  });
}

describe('provider routes', () => {
  it('lets an owner connect a provider, and shows the key only masked', async () => {
    const response = await connectFake(team.owner, base(), {
      name: 'Fake OpenAI',
      kind: 'openai',
      models: ['gpt-4o-mini'],
      maxConcurrency: 4,
    });
    const body = response.json();
    providerId = body.id;
    expect(body).toMatchObject({
      name: 'Fake OpenAI',
      kind: 'openai',
      apiKey: 'sk-…wxyz',
      hasApiKey: true,
      source: 'project',
    });
    expect(response.body).not.toContain(KEY);
    const stored = await t.platform.database.db
      .selectFrom('llm_provider')
      .select('api_key')
      .where('id', '=', providerId)
      .executeTakeFirstOrThrow();
    expect(stored.api_key).toMatch(/^v1:/);
  });

  it('answers 404 to outsiders, 403 to editors who try to manage, and lists for viewers', async () => {
    expect((await inject(team.outsider, 'GET', `${base()}/providers`)).statusCode).toBe(404);
    const editorCreate = await inject(team.editor, 'POST', `${base()}/providers`, {
      name: 'x',
      kind: 'anthropic',
    });
    expect(editorCreate.statusCode).toBe(403);
    const list = await inject(team.viewer, 'GET', `${base()}/providers`);
    expect(list.statusCode).toBe(200);
    expect(list.json().items.map((p: { id: string }) => p.id)).toContain(providerId);
    expect(list.body).not.toContain(KEY);
  });

  it('refuses invalid input naming the field', async () => {
    const response = await inject(team.owner, 'POST', `${base()}/providers`, {
      name: 'local',
      kind: 'openai-compatible',
    });
    expect(response.statusCode).toBe(400);
    expect(response.json().error).toMatchObject({ code: 'VALIDATION_ERROR' });
    expect(response.body).toContain('baseUrl');
  });

  it('tests a connection: ok, then a clear error for a bad key, an unknown model and an unreachable server', async () => {
    const ok = await inject(team.owner, 'POST', `${base()}/providers/${providerId}/test`, {});
    expect(ok.json()).toMatchObject({ ok: true, modelChecked: 'gpt-4o-mini' });
    expect(ok.json().models).toContain('gpt-4o-mini');

    const unknown = await inject(team.owner, 'POST', `${base()}/providers/${providerId}/test`, {
      model: 'unknown-model',
    });
    expect(unknown.json()).toMatchObject({
      ok: false,
      error: {
        reason: 'model-not-found',
        message: 'The provider does not know the model "unknown-model".',
      },
    });

    const badKey = 'sk-routes-wrong-key-0000000000000000000000';
    registerTestSecret('provider-key', badKey);
    await inject(team.owner, 'PATCH', `${base()}/providers/${providerId}`, { apiKey: badKey });
    const rejected = await inject(team.owner, 'POST', `${base()}/providers/${providerId}/test`, {});
    expect(rejected.json()).toMatchObject({
      ok: false,
      error: { reason: 'authentication', httpStatus: 401 },
    });
    expect(rejected.body).not.toContain(badKey);
    expect(rejected.body).not.toContain('0000000000');

    const moved = await inject(team.owner, 'PATCH', `${base()}/providers/${providerId}`, {
      apiKey: KEY,
      baseUrl: 'http://127.0.0.1:1/v1',
    });
    expect(moved.statusCode).toBe(200);
    const unreachable = await inject(
      team.owner,
      'POST',
      `${base()}/providers/${providerId}/test`,
      {},
    );
    expect(unreachable.json()).toMatchObject({ ok: false, error: { reason: 'network' } });
    expect(unreachable.json().error.message).toContain('Could not reach http://127.0.0.1:1/v1');
    await inject(team.owner, 'PATCH', `${base()}/providers/${providerId}`, {
      baseUrl: `${fake.url}/v1`,
    });
  });

  it('lists models merged with the price catalog', async () => {
    const response = await inject(team.editor, 'GET', `${base()}/providers/${providerId}/models`);
    expect(response.statusCode).toBe(200);
    const body = response.json();
    expect(body.providerListsModels).toBe(true);
    expect(body.models).toContainEqual(
      expect.objectContaining({ id: 'gpt-4o-mini', offered: true, inCatalog: true, enabled: true }),
    );
  });

  it('prices each model per million tokens with its context window, an override first, unknown as null', async () => {
    // A price override for gpt-4o (catalog: $2.50 / $10) wins over the catalog.
    const override = await postCreated(team.owner, `${base()}/prices`, {
      model: 'gpt-4o',
      inputUsdPerMtok: 3,
      outputUsdPerMtok: 12,
    });
    const response = await inject(team.editor, 'GET', `${base()}/providers/${providerId}/models`);
    expect(response.statusCode).toBe(200);
    const models = response.json().models as { id: string }[];
    const byId = (id: string) => models.find((model) => model.id === id);
    expect(byId('gpt-4o-mini')).toMatchObject(GPT_4O_MINI_CATALOG_PRICE);
    expect(byId('gpt-4o')).toMatchObject({
      inputUsdPerMtok: 3,
      outputUsdPerMtok: 12,
      cacheReadUsdPerMtok: null,
      priceSource: 'override',
      contextWindow: 128_000,
    });

    // A self-hosted server: no catalog, so a model without an override has no known price.
    const local = await connectFake(team.owner, base(), {
      name: 'Local server',
      kind: 'openai-compatible',
      models: ['my-local-model'],
    });
    const localModels = await inject(
      team.editor,
      'GET',
      `${base()}/providers/${local.json().id}/models`,
    );
    expect(localModels.statusCode).toBe(200);
    const listed = localModels.json().models as { id: string }[];
    expect(listed.find((model) => model.id === 'my-local-model')).toEqual({
      id: 'my-local-model',
      name: null,
      offered: false,
      inCatalog: false,
      enabled: true,
      ...UNPRICED_MODEL,
    });
    // The project's override prices gpt-4o on this server too; the window stays unknown.
    expect(listed.find((model) => model.id === 'gpt-4o')).toMatchObject({
      inputUsdPerMtok: 3,
      priceSource: 'override',
      contextWindow: null,
    });
    await inject(team.owner, 'DELETE', `${base()}/providers/${local.json().id}`);
    await inject(team.owner, 'DELETE', `${base()}/prices/${override.json().id}`);
  });

  it('keeps instance-wide providers to administrators, and shows them to projects', async () => {
    const refused = await inject(team.owner, 'POST', '/api/llm/providers', {
      name: 'shared',
      kind: 'anthropic',
      apiKey: KEY,
    });
    expect(refused.statusCode).toBe(403);
    const created = await postCreated(admin, '/api/llm/providers', {
      name: 'shared anthropic',
      kind: 'anthropic',
      baseUrl: `${fake.url}/v1`,
      apiKey: KEY,
    });
    expect(created.json().source).toBe('instance');
    const visible = await inject(team.viewer, 'GET', `${base()}/providers`);
    expect(visible.json().items.map((p: { id: string }) => p.id)).toContain(created.json().id);
    // A project owner cannot edit it through the project.
    const edit = await inject(team.owner, 'PATCH', `${base()}/providers/${created.json().id}`, {
      name: 'mine now',
    });
    expect(edit.statusCode).toBe(404);
  });
});

describe('budgets, spend, calls and cache routes', () => {
  let seededNano = 0;
  it('creates a budget and shows its period spend', async () => {
    const response = await postCreated(team.owner, `${base()}/budgets`, {
      period: 'month',
      hardLimitNano: 5_000_000,
      softLimitNano: 4_000_000,
    });
    // The period starts with what this month's calls cost: so far, the connection tests.
    const spend = await inject(team.viewer, 'GET', `${base()}/spend?groupBy=feature`);
    const tests = spend
      .json()
      .rows.find((row: { feature: string }) => row.feature === 'test-connection');
    expect(tests.costNano).toBeGreaterThan(0);
    seededNano = tests.costNano;
    expect(response.json()).toMatchObject({
      scope: 'project',
      period: 'month',
      spentNano: seededNano,
      reservedNano: 0,
    });
    const duplicate = await inject(team.owner, 'POST', `${base()}/budgets`, {
      period: 'month',
      hardLimitNano: 1,
    });
    expect(duplicate.statusCode).toBe(409);
    expect(
      (await inject(team.editor, 'POST', `${base()}/budgets`, { period: 'day', hardLimitNano: 1 }))
        .statusCode,
    ).toBe(403);
  });

  it('reports spend by model, feature and day, calls with unknown counts as null, and cache stats', async () => {
    const llm = t.app.llm.llm;
    const request = {
      actor: team.editor.actor,
      projectId: team.project.id,
      feature: 'summary',
      provider: providerId,
      model: 'gpt-4o-mini',
      messages: [{ role: 'user' as const, content: 'Summarise the routes test' }],
    };
    const first = await llm.generate(request);
    await llm.generate(request); // a cache hit
    expect(first.costNano).toBeGreaterThan(0);

    const spend = await inject(
      team.viewer,
      'GET',
      `${base()}/spend?since=30d&groupBy=model,feature`,
    );
    expect(spend.statusCode).toBe(200);
    expect(spend.json().rows).toContainEqual(
      expect.objectContaining({
        model: 'gpt-4o-mini',
        feature: 'summary',
        calls: 2,
        cacheHits: 1,
        costNano: first.costNano,
        savedNano: first.costNano,
      }),
    );
    const byDay = await inject(team.viewer, 'GET', `${base()}/spend?groupBy=day`);
    expect(byDay.json().rows).toHaveLength(1);
    expect((await inject(team.viewer, 'GET', `${base()}/spend?groupBy=color`)).statusCode).toBe(
      400,
    );

    const calls = await inject(team.viewer, 'GET', `${base()}/calls?limit=5`);
    const [hit, miss] = calls.json().items;
    expect(hit).toMatchObject({ status: 'cache-hit', costNano: 0, savedNano: first.costNano });
    expect(miss).toMatchObject({ status: 'ok', tokens: { cacheWrite: null, reasoning: 0 } });

    const stats = await inject(team.viewer, 'GET', `${base()}/cache`);
    expect(stats.json()).toMatchObject({
      hits: 1,
      misses: 1,
      savedNano: first.costNano,
      entries: 1,
    });
    expect((await inject(team.viewer, 'DELETE', `${base()}/cache`)).statusCode).toBe(403);
    const cleared = await inject(team.editor, 'DELETE', `${base()}/cache`);
    expect(cleared.json()).toEqual({ cleared: 1 });

    const budgets = await inject(team.viewer, 'GET', `${base()}/budgets`);
    expect(budgets.json().items[0].spentNano).toBe(seededNano + Number(first.costNano));
  });

  it('answers an exhausted budget with the error envelope, 402 and details', async () => {
    const [budget] = (await inject(team.viewer, 'GET', `${base()}/budgets`)).json().items;
    await inject(team.owner, 'PATCH', `${base()}/budgets/${budget.id}`, { hardLimitNano: 1 });
    let error: unknown;
    try {
      await t.app.llm.llm.generate({
        actor: team.editor.actor,
        projectId: team.project.id,
        feature: 'summary',
        provider: providerId,
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: 'over budget' }],
        cache: 'off',
      });
    } catch (caught) {
      error = caught;
    }
    expect(error).toMatchObject({
      code: 'BUDGET_EXCEEDED',
      status: 402,
      retryable: false,
      details: { limitNano: 1 },
    });
  });

  it('exposes LLM counters on /metrics', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/metrics' });
    expect(response.body).toMatch(
      /braincells_llm_attempts_total\{provider="openai",model="gpt-4o-mini",feature="summary",status="ok"\} 1/,
    );
    expect(response.body).toMatch(
      /braincells_llm_cost_nano_usd_total\{provider="openai",model="gpt-4o-mini",feature="summary"\} \d+/,
    );
    expect(response.body).toMatch(
      /braincells_llm_tokens_total\{provider="openai",model="gpt-4o-mini",feature="summary",type="output"\} \d+/,
    );
    expect(response.body).not.toContain(KEY);
  });
});

describe('spend by entity route', () => {
  // Its own project: the budgets and cache statistics above stay as their tests left them.
  let own: ProjectWithMembers;
  let ownProvider: string;
  const ownBase = () => `/api/projects/${own.project.id}/llm`;
  beforeAll(async () => {
    own = await createProjectWithMembers(t);
    const created = await connectFake(own.owner, ownBase(), {
      name: 'Fake OpenAI',
      kind: 'openai',
      models: ['gpt-4o-mini'],
    });
    ownProvider = created.json().id;
  });

  it('reports spend by the dataset, column and run a call was made for', async () => {
    const llm = t.app.llm.llm;
    const call = (content: string, entityIds: Record<string, string>) =>
      llm.generate({
        actor: own.editor.actor,
        projectId: own.project.id,
        feature: 'sheet-cell',
        provider: ownProvider,
        model: 'gpt-4o-mini',
        messages: [{ role: 'user' as const, content }],
        entityIds,
      });
    const a1 = await call('entity spend a1', {
      datasetId: 'dataset-a',
      columnId: 'col-a',
      runId: 'run-1',
    });
    const a2 = await call('entity spend a2', {
      datasetId: 'dataset-a',
      columnId: 'col-a',
      runId: 'run-2',
    });
    const b = await call('entity spend b', {
      datasetId: 'dataset-b',
      columnId: 'col-b',
      runId: 'run-3',
    });
    await call('entity spend none', {});

    const byDataset = await inject(
      own.viewer,
      'GET',
      `${ownBase()}/spend/by-entity?by=dataset&since=7d`,
    );
    expect(byDataset.statusCode).toBe(200);
    const rows = byDataset.json().rows as {
      entityId: string | null;
      calls: number;
      costNano: number;
    }[];
    expect(rows.find((row) => row.entityId === 'dataset-a')).toMatchObject({
      calls: 2,
      costNano: a1.costNano! + a2.costNano!,
      unpricedAttempts: 0,
    });
    expect(rows.find((row) => row.entityId === 'dataset-b')).toMatchObject({
      calls: 1,
      costNano: b.costNano,
    });
    // Calls made for no dataset are one row, not dropped.
    expect(rows.find((row) => row.entityId === null)?.calls).toBeGreaterThanOrEqual(1);

    const byRun = await inject(own.viewer, 'GET', `${ownBase()}/spend/by-entity?by=run&since=7d`);
    expect(byRun.json().rows).toContainEqual(
      expect.objectContaining({ entityId: 'run-2', datasetId: 'dataset-a', calls: 1 }),
    );
    const byColumn = await inject(own.viewer, 'GET', `${ownBase()}/spend/by-entity?by=column`);
    expect(byColumn.json().rows).toContainEqual(
      expect.objectContaining({ entityId: 'col-a', datasetId: 'dataset-a', calls: 2 }),
    );

    const bad = await inject(own.viewer, 'GET', `${ownBase()}/spend/by-entity?by=row`);
    expect(bad.statusCode).toBe(400);
    expect(bad.body).toContain('by');
    expect(
      (await inject(own.outsider, 'GET', `${ownBase()}/spend/by-entity?by=run`)).statusCode,
    ).toBe(404);
  });
});
