import { beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../../test/factories.ts';
import { projectPerSuite, testAppPerSuite } from '../../test/per-suite.ts';
import { MAX_JSON_BODY_DEPTH } from '../platform/http/json-body.ts';
import { MAX_CELL_JSON_DEPTH } from './sheet-schema.ts';

/** Regression tests for the smaller findings of the security review (issue 12, item 6). */
describe('sheet routes under attack', () => {
  const t = testAppPerSuite();
  const members = projectPerSuite(t);
  let base: string;
  let dataset: { id: string; columns: { id: string; name: string }[] };

  beforeAll(async () => {
    base = `/api/projects/${members.project.id}`;
    dataset = (
      await t.app.inject({
        method: 'POST',
        url: `${base}/datasets`,
        headers: members.editor.headers,
        payload: { name: 'Target', rows: 2, columns: [{ name: 'J', type: 'json' }, { name: 'T' }] },
      })
    ).json();
  });

  const nested = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;

  it('refuses file:, gopher:, ftp: and non-URLs to import with 400 naming url, recording nothing', async () => {
    for (const url of [
      'file:///etc/passwd',
      'gopher://127.0.0.1:6379/_INFO',
      'ftp://example.test/data.csv',
      'data:text/csv,a,b',
      'javascript:alert(1)',
      'not a url',
      'http://',
    ]) {
      const response = await t.app.inject({
        method: 'POST',
        url: `${base}/imports/url`,
        headers: members.editor.headers,
        payload: { url },
      });
      expect(response.statusCode, url).toBe(400);
      expect(response.json().error, url).toMatchObject({
        code: 'VALIDATION_ERROR',
        details: { issues: [{ path: 'body.url' }] },
      });
    }
    const recorded = await t.platform.database.db
      .selectFrom('dataset_import')
      .select('id')
      .where('project_id', '=', members.project.id)
      .execute();
    expect(recorded).toEqual([]);
  });

  it('answers 400, not 500, to a JSON body nested 100,000 deep, on any route', async () => {
    const [json] = dataset.columns;
    const bodies = [
      [
        'POST',
        `${base}/datasets/${dataset.id}/rows`,
        `{"rows":[{"${json!.id}":${nested(100_000)}}]}`,
      ],
      [
        'PATCH',
        `${base}/datasets/${dataset.id}/cells`,
        `{"rowId":"1","columnId":"${json!.id}","expectedVersion":0,"value":${nested(100_000)}}`,
      ],
      ['POST', '/api/projects', `{"name":"x","description":${nested(100_000)}}`],
      // Objects too, and brackets inside strings do not count toward the depth.
      ['POST', '/api/projects', `${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}`],
    ] as const;
    for (const [method, url, payload] of bodies) {
      const response = await t.app.inject({
        method,
        url,
        headers: { ...members.editor.headers, 'content-type': 'application/json' },
        payload,
      });
      expect(response.statusCode, url).toBe(400);
      expect(response.json().error).toMatchObject({
        code: 'VALIDATION_ERROR',
        details: { issues: [{ path: 'body' }] },
      });
    }
    const strings = await t.app.inject({
      method: 'PATCH',
      url: `${base}/datasets/${dataset.id}/cells`,
      headers: { ...members.editor.headers, 'content-type': 'application/json' },
      payload: `{"rowId":"1","columnId":"${dataset.columns[1]!.id}","expectedVersion":0,"value":"${'[{'.repeat(MAX_JSON_BODY_DEPTH * 10)}"}`,
    });
    expect(strings.statusCode, strings.body).toBe(200);
  });

  it('bounds a JSON cell value to MAX_CELL_JSON_DEPTH levels in the schema (400 naming the field)', async () => {
    const [json] = dataset.columns;
    const deepValue = JSON.parse(nested(MAX_CELL_JSON_DEPTH + 1));
    const refused = await t.app.inject({
      method: 'PATCH',
      url: `${base}/datasets/${dataset.id}/cells`,
      headers: members.editor.headers,
      payload: { rowId: '2', columnId: json!.id, expectedVersion: 0, value: deepValue },
    });
    expect(refused.statusCode).toBe(400);
    expect(refused.json().error.details.issues[0].path).toBe('body.value');
    const appended = await t.app.inject({
      method: 'POST',
      url: `${base}/datasets/${dataset.id}/rows`,
      headers: members.editor.headers,
      payload: { rows: [{ [json!.id]: deepValue }] },
    });
    expect(appended.statusCode).toBe(400);
    const rows = await t.app.inject({
      method: 'GET',
      url: `${base}/datasets/${dataset.id}/rows?limit=10`,
      headers: members.viewer.headers,
    });
    expect(rows.json().rows).toHaveLength(2);
    // At the bound it is stored and read back whole.
    const atLimit = JSON.parse(nested(MAX_CELL_JSON_DEPTH));
    const stored = await t.app.inject({
      method: 'PATCH',
      url: `${base}/datasets/${dataset.id}/cells`,
      headers: members.editor.headers,
      payload: { rowId: '2', columnId: json!.id, expectedVersion: 0, value: atLimit },
    });
    expect(stored.statusCode, stored.body).toBe(200);
    expect(stored.json().value).toEqual(atLimit);
  });

  it('lets a read-only API key call the read-only POST routes, and nothing that writes', async () => {
    const key = await createApiKey(t, members.viewer, { scopes: ['read'] });
    const url = `${base}/datasets/${dataset.id}`;
    const post = (path: string, payload: object) =>
      t.app.inject({ method: 'POST', url: `${url}${path}`, headers: key.headers, payload });
    const sql = await post('/sql', { sql: 'select count(*) as n from dataset' });
    expect(sql.statusCode, sql.body).toBe(200);
    expect(sql.json().rows).toEqual([{ n: '2' }]);
    const window = await post('/rows/query', { offset: 0, limit: 10 });
    expect(window.statusCode, window.body).toBe(200);
    expect(window.json().total).toBe(2);
    const preview = await post('/ai-columns/preview-prompt', { prompt: 'About {{T}}', rows: 1 });
    expect(preview.statusCode, preview.body).toBe(200);
    expect(preview.json().rows).toHaveLength(1);
    const append = await post('/rows', { rows: [{}] });
    expect(append.statusCode).toBe(403);
    expect(append.json().error.details.reason).toBe('scope');
    const remove = await post('/rows/delete', { rowIds: ['1'] });
    expect(remove.statusCode).toBe(403);
  });
});
