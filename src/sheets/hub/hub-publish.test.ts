import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerTestSecret } from '../../../test/leak-scan.ts';
import { type FakeHub, startFakeHub } from '../../../tools/fake-hub/fake-hub-server.ts';
import { loadConfig } from '../../platform/config.ts';
import {
  type GenerationTestEnv,
  openGenerationTestEnv,
} from '../generation/generation-test-helpers.ts';
import { petsDataset, solidImage, storedImage } from '../images/image-test-fixtures.ts';
import { CARD_FILE, CONFIG_FILE, DATA_FILE, datasetCard } from './hub-card.ts';
import {
  PUBLISH_STALE_SECONDS,
  type PublishView,
  STAGING_KEEP_DAYS,
} from './hub-publish-service.ts';
import { createHubStore } from './hub-store.ts';

const TOKEN = 'hf-fake-publish-token-4d9c2e7a1b';
const OTHER_TOKEN = 'hf-fake-publish-token-second-8e1f';

describe('the dataset card', () => {
  it('attack: names and prompts cannot break out of the YAML front matter, a table cell or a fence', () => {
    const hostile = 'x"\n---\nlicense: evil\n| <script>alert(1)</script>';
    const card = datasetCard({
      name: hostile,
      rows: 1,
      publishedAt: new Date('2026-12-06T00:00:00Z'),
      columns: [
        {
          name: hostile,
          type: 'text',
          kind: 'ai',
          formula: null,
          ai: {
            prompt: '````\n# injected heading\n````',
            instructions: null,
            provider: null,
            model: 'm|<b>',
            parameters: {},
            output: null,
            search: null,
            inputs: [],
          },
        },
      ],
    });
    const lines = card.split('\n');
    const end = lines.indexOf('---', 1);
    // The front matter is ours line for line: each user value is one JSON string on its line.
    expect(lines.slice(0, end + 1).filter((line) => line.includes('evil'))).toEqual([
      `pretty_name: ${JSON.stringify(hostile)}`,
      `  - name: ${JSON.stringify(hostile)}`,
    ]);
    expect(lines.filter((line) => line === '---')).toHaveLength(2);
    // The Markdown body shows no raw HTML (in the front matter it is inside a quoted string).
    const body = lines.slice(end + 1).join('\n');
    expect(body).not.toContain('<script>');
    expect(body).not.toContain('<b>');
    // The prompt's four backticks sit inside a five-backtick fence.
    expect(card).toContain('`````text\n````\n# injected heading\n````\n`````');
    expect(lines.filter((line) => line.startsWith('| ') && line.includes('AI:'))).toEqual([
      '| x" --- license: evil \\| &lt;script&gt;alert(1)&lt;/script&gt; | text | AI: m\\|&lt;b&gt; |',
    ]);
  });
});

describe('publish to the Hugging Face Hub (a local stand-in)', () => {
  let hub: FakeHub;
  let env: GenerationTestEnv;
  let datasetId: string;
  let png: Buffer;

  beforeAll(async () => {
    registerTestSecret('provider-key', TOKEN);
    registerTestSecret('provider-key', OTHER_TOKEN);
    hub = await startFakeHub({ tokens: { [TOKEN]: 'tester', [OTHER_TOKEN]: 'someone' } });
    const base = loadConfig({}, {});
    env = await openGenerationTestEnv({
      config: { sheets: { ...base.sheets, hfHubUrl: hub.url, hfToken: undefined } },
    });
    const { t, members, projectId } = env;
    const actor = members.owner.actor;
    png = await solidImage('png', { width: 20, height: 10 });
    const cat = await storedImage(t, projectId, 'cat.png', png);
    datasetId = await petsDataset(t, actor, projectId, [
      [cat, 'a cat'],
      [null, 'no photo'],
    ]);
    const created = await t.app.features.generation.aiColumns.createAiColumn(
      actor,
      projectId,
      datasetId,
      {
        name: 'French',
        // A prompt with a fence and a pipe of its own: the card must keep it whole.
        prompt: 'Translate {{Caption}} to French ``` | one line',
        provider: env.providerId,
        model: 'gpt-4o-mini',
      },
    );
    if (created.run) await env.waitForRun(datasetId, created.run.id);
  });
  afterAll(async () => {
    await env?.close();
    await hub?.close();
  });

  const service = () => env.t.app.features.hub.service;
  const request = (
    method: 'GET' | 'POST' | 'PUT' | 'DELETE',
    url: string,
    who: { headers: Record<string, string> },
    payload?: unknown,
  ) =>
    env.t.app.inject({
      method,
      url,
      headers: who.headers,
      ...(payload === undefined ? {} : { payload: payload as object }),
    });
  const hubUrl = () => `/api/projects/${env.projectId}/hub`;
  const publish = (body: unknown, who = env.members.editor) =>
    request('POST', `/api/projects/${env.projectId}/datasets/${datasetId}/publish`, who, body);
  /** POST, then wait for its job (the workers run in this app) to settle it. */
  const published = async (body: unknown) => {
    const response = await publish(body);
    expect(response.statusCode).toBe(202);
    const queued = response.json() as PublishView;
    expect(queued.status).toBe('queued');
    return service().whenFinished(queued.id);
  };
  const setToken = (token: string, who = env.members.owner) =>
    request('PUT', `${hubUrl()}/token`, who, { token });

  it('refuses to publish without a token, and a token the Hub refuses, naming `token`', async () => {
    const none = await publish({ repo: 'tester/pets', private: false });
    expect(none.statusCode).toBe(400);
    expect(JSON.stringify(none.json())).toContain('"path":"token"');
    const wrong = await setToken('hf-wrong-token-123456');
    expect(wrong.statusCode).toBe(400);
    expect(wrong.json().error.message).toBe('The Hugging Face Hub refused the token');
    expect(JSON.stringify(wrong.json())).toContain('"path":"token"');
    // Only owners set it; viewers see whether one is set, never its value.
    expect((await setToken(TOKEN, env.members.editor)).statusCode).toBe(403);
    expect((await request('GET', `${hubUrl()}/token`, env.members.viewer)).json()).toEqual({
      project: false,
      environment: false,
      hubUrl: hub.url,
    });
  });

  it('publishes a public dataset: repository, Parquet with image structs, card and config', async () => {
    const set = await setToken(TOKEN);
    expect(set.statusCode).toBe(200);
    expect(set.json()).toEqual({ project: true, environment: false, hubUrl: hub.url });
    const done = await published({ repo: 'tester/pets', private: false });
    expect(done).toMatchObject({ status: 'done', error: null, filesUploaded: 1, filesSkipped: 0 });
    expect(done.commitUrl).toContain('/datasets/tester/pets/commit/');
    const repo = hub.repos.get('tester/pets')!;
    expect(repo.private).toBe(false);
    expect(repo.commits).toHaveLength(1);
    expect([...repo.files.keys()].sort()).toEqual([CARD_FILE, CONFIG_FILE, DATA_FILE].sort());
    expect(repo.files.get(DATA_FILE)!.lfs).toBe(true);
    expect(repo.files.get(CARD_FILE)!.lfs).toBe(false);

    const card = repo.files.get(CARD_FILE)!.content.toString('utf8');
    expect(card.startsWith('---\npretty_name: "Pets"\n')).toBe(true);
    expect(card).toContain(`    path: "${DATA_FILE}"`);
    expect(card).toContain('  - name: "Photo"\n    dtype: image');
    expect(card).toContain('| French | text | AI: gpt-4o-mini |');
    // The prompt's own ``` cannot close the fence it sits in.
    expect(card).toContain('````text\nTranslate {{Caption}} to French ``` | one line\n````');

    const config = JSON.parse(repo.files.get(CONFIG_FILE)!.content.toString('utf8'));
    expect(config).toMatchObject({ format: 'braincells-dataset', name: 'Pets', rows: 2 });
    expect(config.columns.map((column: { name: string }) => column.name)).toEqual([
      'Photo',
      'Caption',
      'French',
    ]);
    expect(config.columns[2]).toMatchObject({
      kind: 'ai',
      ai: {
        prompt: 'Translate {{Caption}} to French ``` | one line',
        provider: env.providerId,
        model: 'gpt-4o-mini',
        inputs: ['Caption'],
      },
    });

    const file = path.join(env.t.platform.config.dataDir, 'published.parquet');
    writeFileSync(file, repo.files.get(DATA_FILE)!.content);
    const rows = await env.t.platform.duckdb.query<{ bytes: string | null; caption: string }>(
      `select hex("Photo".bytes) as bytes, "Caption" as caption from read_parquet('${file}')`,
    );
    expect(rows).toEqual([
      { bytes: png.toString('hex').toUpperCase(), caption: 'a cat' },
      { bytes: null, caption: 'no photo' },
    ]);

    const audit = await env.t.platform.database.db
      .selectFrom('audit_log')
      .select(['action', 'summary'])
      .where('project_id', '=', env.projectId)
      .where('action', 'in', ['dataset.publish', 'hub.token-set'])
      .execute();
    expect(audit.map((entry) => entry.action).sort()).toEqual(['dataset.publish', 'hub.token-set']);
    expect(JSON.stringify(audit)).not.toContain(TOKEN);
    // A done publish is not retried.
    const again = await request(
      'POST',
      `${hubUrl()}/publishes/${done.id}/retry`,
      env.members.editor,
    );
    expect(again.statusCode).toBe(409);
  });

  it('a private publish failing midway is never done; retries resume without sending again what the Hub holds', async () => {
    const uploadsBefore = hub.uploads.length;
    hub.failNext('upload');
    const first = await published({ repo: 'tester/pets-private', private: true });
    expect(first.status).toBe('failed');
    expect(first.error).toBe(
      'Uploading data/train-00000-of-00001.parquet failed: the Hub answered 500 (fake-hub: upload failed as told)',
    );
    const repo = hub.repos.get('tester/pets-private')!;
    expect(repo.private).toBe(true);
    expect(repo.files.size).toBe(0);
    expect(hub.uploads.length).toBe(uploadsBefore);

    // Second attempt: the file goes up, then the commit fails — still nothing in the repository.
    hub.failNext('commit');
    const retry = async (id: string) => {
      const response = await request(
        'POST',
        `${hubUrl()}/publishes/${id}/retry`,
        env.members.editor,
      );
      expect(response.statusCode).toBe(202);
      expect(response.json().status).toBe('queued');
      return service().whenFinished(id);
    };
    const second = await retry(first.id);
    expect(second).toMatchObject({ status: 'failed', attempts: 2, filesUploaded: 1 });
    expect(second.error).toContain('Committing failed: the Hub answered 500');
    expect(repo.files.size).toBe(0);
    expect(repo.commits).toHaveLength(0);
    expect(hub.uploads.length).toBe(uploadsBefore + 1);

    // Third: the Hub says it holds the Parquet; only the commit is made.
    const third = await retry(first.id);
    expect(third).toMatchObject({ status: 'done', attempts: 3, filesUploaded: 1, filesSkipped: 1 });
    expect(hub.uploads.length).toBe(uploadsBefore + 1);
    expect(repo.commits).toHaveLength(1);
    expect([...repo.files.keys()].sort()).toEqual([CARD_FILE, CONFIG_FILE, DATA_FILE].sort());
    const listed = await request(
      'GET',
      `${hubUrl()}/publishes?datasetId=${datasetId}`,
      env.members.viewer,
    );
    expect(listed.json().items[0]).toMatchObject({ id: first.id, status: 'done', private: true });
  });

  it('a publish cut off with its server (heartbeat stopped) reads as failed and retry resumes it; a beating one stays running', async () => {
    const db = env.t.platform.database.db;
    const store = createHubStore(db);
    hub.failNext('commit');
    const first = await published({ repo: 'tester/pets-cut-off', private: false });
    expect(first.status).toBe('failed');
    // As another server would leave it mid-run: running, its last beat five minutes ago.
    const runningSince = async (secondsAgo: number) =>
      db
        .updateTable('hub_publish')
        .set({
          status: 'running',
          error: null,
          finished_at: null,
          heartbeat_at: sql`now() - make_interval(secs => ${secondsAgo})`,
        })
        .where('id', '=', first.id)
        .execute();
    const read = async () => {
      const response = await request(
        'GET',
        `${hubUrl()}/publishes/${first.id}`,
        env.members.viewer,
      );
      expect(response.statusCode).toBe(200);
      return response.json() as PublishView;
    };
    // Beating within the lease: still running, and not retried.
    await runningSince(PUBLISH_STALE_SECONDS / 2);
    expect((await read()).status).toBe('running');
    const early = await request(
      'POST',
      `${hubUrl()}/publishes/${first.id}/retry`,
      env.members.editor,
    );
    expect(early.statusCode).toBe(409);
    // Its beat renews the lease even when the last one is old.
    await runningSince(300);
    expect(await store.beat(first.id)).toBe(true);
    expect((await read()).status).toBe('running');
    // No beat for five minutes: failed, on a read by anyone (the list too), and resumable.
    await runningSince(300);
    const listed = await request(
      'GET',
      `${hubUrl()}/publishes?datasetId=${datasetId}`,
      env.members.viewer,
    );
    expect(
      (listed.json().items as PublishView[]).find((item) => item.id === first.id),
    ).toMatchObject({
      status: 'failed',
      error: 'The server running the publish stopped; retry it',
    });
    expect(await store.beat(first.id)).toBe(false);
    const retried = await request(
      'POST',
      `${hubUrl()}/publishes/${first.id}/retry`,
      env.members.editor,
    );
    expect(retried.statusCode).toBe(202);
    const done = await service().whenFinished(first.id);
    expect(done).toMatchObject({ status: 'done', error: null });
    expect(hub.repos.get('tester/pets-cut-off')!.commits).toHaveLength(1);
  });

  it('staged files are deleted once no retry will use them', async () => {
    const db = env.t.platform.database.db;
    const root = path.join(env.t.platform.config.dataDir, 'hub-staging');
    hub.failNext('commit');
    const recent = await published({ repo: 'tester/pets-staged-recent', private: false });
    hub.failNext('commit');
    const old = await published({ repo: 'tester/pets-staged-old', private: false });
    expect([recent.status, old.status]).toEqual(['failed', 'failed']);
    await db
      .updateTable('hub_publish')
      .set({
        finished_at: sql`now() - make_interval(days => ${STAGING_KEEP_DAYS + 1})`,
      })
      .where('id', '=', old.id)
      .execute();
    // A publish whose project was deleted (no row): its folder is an orphan.
    const orphan = path.join(root, '0193e0c4-5b6a-7c2d-8e9f-0a1b2c3d4e5f');
    mkdirSync(orphan, { recursive: true });
    writeFileSync(path.join(orphan, 'data.parquet'), 'x');
    // Something that is not a publish's folder is never touched.
    mkdirSync(path.join(root, 'not-a-publish'), { recursive: true });

    expect(await service().cleanStaging()).toBe(2);
    expect(readdirSync(root).sort()).toEqual([recent.id, 'not-a-publish'].sort());
    // The old one still retries: it stages its files again.
    const retried = await request(
      'POST',
      `${hubUrl()}/publishes/${old.id}/retry`,
      env.members.editor,
    );
    expect(retried.statusCode).toBe(202);
    expect(await service().whenFinished(old.id)).toMatchObject({ status: 'done' });
    // Done: its folder went with it.
    expect(existsSync(path.join(root, old.id))).toBe(false);
  });

  it('answers 400 naming `repo` for a bad repository, 403 to viewers, 404 to outsiders', async () => {
    for (const repo of [
      'pets',
      'a/b/c',
      '../etc/passwd',
      'tester/..',
      'tester/a b',
      'x'.repeat(150),
    ]) {
      const response = await publish({ repo, private: true });
      expect(response.statusCode).toBe(400);
      expect(JSON.stringify(response.json())).toContain('repo');
    }
    expect(
      (await publish({ repo: 'tester/x', private: true }, env.members.viewer)).statusCode,
    ).toBe(403);
    expect(
      (await publish({ repo: 'tester/x', private: true }, env.members.outsider)).statusCode,
    ).toBe(404);
    const someone = await request('GET', `${hubUrl()}/publishes`, env.members.outsider);
    expect(someone.statusCode).toBe(404);
    // Described in the OpenAPI document with the rest of the API.
    const paths = Object.keys(
      (await env.t.app.inject({ method: 'GET', url: '/api/openapi.json' })).json().paths,
    );
    expect(paths).toEqual(
      expect.arrayContaining([
        '/api/projects/{projectId}/datasets/{datasetId}/publish',
        '/api/projects/{projectId}/hub/publishes/{publishId}/retry',
        '/api/projects/{projectId}/hub/token',
      ]),
    );
  });

  it('a token the Hub revokes later: 400 naming `token`; the token never leaves in answers, rows or logs', async () => {
    // Another account's repository: the Hub refuses the write, the publish fails with its words.
    const foreign = await published({ repo: 'someone/theirs', private: false });
    expect(foreign.status).toBe('failed');
    expect(foreign.error).toContain('Creating the repository failed: the Hub answered 403');
    hub.tokens.delete(TOKEN);
    const revoked = await publish({ repo: 'tester/pets', private: false });
    expect(revoked.statusCode).toBe(400);
    expect(JSON.stringify(revoked.json())).toContain('"path":"token"');
    hub.tokens.set(TOKEN, 'tester');
    const stored = await env.t.platform.database.db.selectFrom('hub_token').selectAll().execute();
    expect(stored).toHaveLength(1);
    expect(stored[0]!.token).not.toContain(TOKEN);
    const everything = [
      JSON.stringify(
        await env.t.platform.database.db.selectFrom('hub_publish').selectAll().execute(),
      ),
      JSON.stringify(
        await env.t.platform.database.db.selectFrom('audit_log').selectAll().execute(),
      ),
      env.t.platform.logs.text(),
    ].join('\n');
    expect(everything).not.toContain(TOKEN);
    expect(everything).not.toContain('hf-fake-publish-token');
    // The token went to the Hub, in the Authorization header only.
    expect(hub.requests.filter((entry) => entry.path === '/api/whoami-v2').length).toBeGreaterThan(
      0,
    );
    expect(hub.requests.some((entry) => entry.path.includes(TOKEN))).toBe(false);
    expect((await request('DELETE', `${hubUrl()}/token`, env.members.owner)).statusCode).toBe(204);
    expect((await request('DELETE', `${hubUrl()}/token`, env.members.owner)).statusCode).toBe(404);
  });
});
