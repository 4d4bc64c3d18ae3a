import { beforeAll, describe, expect, it } from 'vitest';
import { projectPerSuite, testAppPerSuite } from '../../../test/per-suite.ts';

describe('saved views', () => {
  const t = testAppPerSuite();
  const members = projectPerSuite(t);
  let url: string;
  let columns: { id: string; name: string }[];

  beforeAll(async () => {
    const created = await t.app.inject({
      method: 'POST',
      url: `/api/projects/${members.project.id}/datasets`,
      headers: members.editor.headers,
      payload: {
        name: 'People',
        rows: 3,
        columns: [{ name: 'Name' }, { name: 'Age', type: 'integer' }],
      },
    });
    const dataset = created.json();
    columns = dataset.columns;
    url = `/api/projects/${members.project.id}/datasets/${dataset.id}/views`;
  });

  const call = (
    method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
    path: string,
    payload?: object,
    who = members.editor,
  ) => t.app.inject({ method, url: path, headers: who.headers, ...(payload ? { payload } : {}) });

  it('saves, lists, updates with compare-and-set, renames and deletes a view', async () => {
    const [name, age] = columns as unknown as [{ id: string }, { id: string }];
    const created = await call('POST', url, {
      name: 'Adults',
      filters: [{ columnId: age.id, op: 'range', min: 18 }],
      sort: [{ columnId: name.id, direction: 'desc' }],
      search: 'a',
      hiddenColumnIds: [age.id],
    });
    expect(created.statusCode).toBe(201);
    const view = created.json();
    expect(view).toMatchObject({
      name: 'Adults',
      version: 1,
      filters: [{ columnId: age.id, op: 'range', min: 18 }],
      sort: [{ columnId: name.id, direction: 'desc' }],
      search: 'a',
      hiddenColumnIds: [age.id],
    });
    // Viewers see views but cannot save them; outsiders do not see the dataset.
    expect((await call('GET', url, undefined, members.viewer)).json().items).toHaveLength(1);
    expect((await call('POST', url, { name: 'Mine' }, members.viewer)).statusCode).toBe(403);
    expect((await call('GET', url, undefined, members.outsider)).statusCode).toBe(404);

    const updated = await call('PATCH', `${url}/${view.id}`, {
      expectedVersion: 1,
      definition: { filters: [], sort: [], search: '', hiddenColumnIds: [] },
    });
    expect(updated.json()).toMatchObject({ version: 2, filters: [], hiddenColumnIds: [] });
    // A second writer who read version 1 loses nothing silently: 409 with the current view.
    const stale = await call('PATCH', `${url}/${view.id}`, { expectedVersion: 1, name: 'Old' });
    expect(stale.statusCode).toBe(409);
    expect(stale.json()).toMatchObject({
      error: { code: 'CONFLICT', details: { field: 'expectedVersion', current: { version: 2 } } },
    });
    expect(
      (await call('PATCH', `${url}/${view.id}`, { expectedVersion: 2, name: 'Everyone' })).json(),
    ).toMatchObject({ name: 'Everyone', version: 3 });

    expect((await call('DELETE', `${url}/${view.id}`)).statusCode).toBe(204);
    expect((await call('DELETE', `${url}/${view.id}`)).statusCode).toBe(404);
    expect((await call('GET', url)).json().items).toEqual([]);
  });

  it('refuses bad input naming the field, and duplicate names with 409; writes nothing', async () => {
    const unknown = await call('POST', url, {
      name: 'Broken',
      sort: [{ columnId: '01900000-0000-7000-8000-000000000000' }],
    });
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json()).toMatchObject({
      error: { code: 'VALIDATION_ERROR', details: { issues: [{ path: 'sort.0.columnId' }] } },
    });
    const badOp = await call('POST', url, {
      name: 'Bad',
      filters: [{ columnId: columns[0]!.id, op: 'drop table' }],
    });
    expect(badOp.statusCode).toBe(400);
    expect(JSON.stringify(badOp.json())).toContain('filters');
    expect((await call('POST', url, { name: '' })).statusCode).toBe(400);
    expect((await call('GET', url)).json().items).toEqual([]);

    expect((await call('POST', url, { name: 'Same' })).statusCode).toBe(201);
    const twice = await call('POST', url, { name: 'Same' });
    expect(twice.statusCode).toBe(409);
    expect(twice.json()).toMatchObject({ error: { code: 'CONFLICT', details: { field: 'name' } } });
    expect((await call('GET', url)).json().items).toHaveLength(1);
  });

  it('leaves out columns deleted since the view was saved', async () => {
    const extra = await t.app.inject({
      method: 'POST',
      url: url.replace(/\/views$/, '/columns'),
      headers: members.editor.headers,
      payload: { name: 'Temp' },
    });
    expect(extra.statusCode).toBe(201);
    const temp = extra.json();
    const saved = (
      await call('POST', url, {
        name: 'With temp',
        hiddenColumnIds: [temp.id],
        sort: [{ columnId: temp.id }],
      })
    ).json();
    expect(saved.hiddenColumnIds).toEqual([temp.id]);
    expect(
      (await call('DELETE', `${url.replace(/\/views$/, '/columns')}/${temp.id}`)).statusCode,
    ).toBe(204);
    const after = (await call('GET', url))
      .json()
      .items.find((view: { id: string }) => view.id === saved.id);
    expect(after).toMatchObject({ hiddenColumnIds: [], sort: [] });
  });
});
