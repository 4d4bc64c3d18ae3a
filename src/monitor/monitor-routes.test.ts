import { existsSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { createProjectWithMembers, type TestSession } from '../../test/factories.ts';
import { createTestApp } from '../../test/test-platform.ts';
import { monitorTestApp } from './monitor-test-app.ts';
import {
  CLAUDE_SESSION,
  claudeFiles,
  multipartFiles,
  writeClaudeProjects,
  writeOpenCodeDb,
} from './monitor-test-helpers.ts';

const env = monitorTestApp('monitor-routes-', { roots: (dir) => [path.join(dir, 'allowed')] });
const { dir } = env;
const root = path.join(dir, 'allowed');
const outside = path.join(dir, 'outside');
let projects: string;

beforeAll(() => {
  mkdirSync(root, { recursive: true });
  ({ projects } = writeClaudeProjects(root));
  writeOpenCodeDb(path.join(root, 'opencode'));
  // A secret-looking transcript outside the allowed folder, and a link to it from inside.
  writeClaudeProjects(outside);
  symlinkSync(outside, path.join(root, 'escape'));
  writeFileSync(path.join(outside, 'secret.jsonl'), '{"type":"user"}\n');
  symlinkSync(path.join(outside, 'secret.jsonl'), path.join(root, 'link.jsonl'));
});

const base = () => `/api/projects/${env.team.project.id}/monitor`;

function inject(session: TestSession, method: 'GET' | 'POST', url: string, payload?: unknown) {
  return env.t.app.inject({
    method,
    url,
    headers: session.headers,
    ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
  });
}

describe('monitor routes', () => {
  it('an editor imports a folder under the roots; a viewer reads sessions, days, models and files', async () => {
    const response = await inject(env.team.editor, 'POST', `${base()}/imports`, { path: root });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({
      files: 4,
      sessions: 5,
      usageEvents: 5 + 4,
      badLines: 3,
    });

    const sessions = await inject(env.team.viewer, 'GET', `${base()}/sessions`);
    expect(sessions.statusCode).toBe(200);
    const items = sessions.json().items as { sessionKey: string; agentType: string | null }[];
    expect(items).toHaveLength(5);

    const detail = await inject(
      env.team.viewer,
      'GET',
      `${base()}/sessions/${encodeURIComponent(`cc:${CLAUDE_SESSION}`)}`,
    );
    expect(detail.statusCode).toBe(200);
    expect(detail.json().tree.rollup.tokens.output).toBe(322 + 40 + 2);
    expect(detail.json().tree.children).toHaveLength(2);

    const daily = await inject(env.team.viewer, 'GET', `${base()}/daily?timezone=Europe/Paris`);
    expect(daily.statusCode).toBe(200);
    expect(daily.json().timezone).toBe('Europe/Paris');

    const models = await inject(env.team.viewer, 'GET', `${base()}/models`);
    expect(
      models.json().items.find((row: { model: string }) => row.model === 'my-private-model'),
    ).toMatchObject({
      costUsd: null,
      costBasis: 'unpriced',
      unpricedEvents: 1,
    });

    const files = await inject(env.team.viewer, 'GET', `${base()}/files`);
    const main = files
      .json()
      .items.find((file: { path: string }) => file.path.endsWith(`${CLAUDE_SESSION}.jsonl`));
    expect(main.badLineSamples[0]).toEqual({ line: 9, reason: 'invalid JSON' });
    // Paths as a member may see them: inside the root's folder, not the server's layout.
    expect(main.path.startsWith(`${path.basename(root)}/`)).toBe(true);
    for (const file of files.json().items as { path: string }[])
      expect(file.path.includes(path.dirname(root)), file.path).toBe(false);
  });

  it('never follows a symbolic link out of the roots while walking', async () => {
    const files = (await inject(env.team.viewer, 'GET', `${base()}/files`)).json().items as {
      path: string;
    }[];
    expect(files.some((file) => file.path.startsWith(outside))).toBe(false);
    expect(
      files.some((file) => file.path.includes('escape') || file.path.endsWith('link.jsonl')),
    ).toBe(false);
  });

  it.each([
    ['a path outside the roots', () => outside],
    ['a traversal out of a root', () => `${root}/../outside`],
    ['a traversal that looks inside', () => `${root}/opencode/../../outside/secret.jsonl`],
    ['a symbolic link to a folder outside', () => path.join(root, 'escape')],
    ['a symbolic link to a file outside', () => path.join(root, 'link.jsonl')],
    ['a sibling folder sharing the prefix', () => `${root}-evil`],
    ['the file system root', () => '/'],
    ['/etc/passwd', () => '/etc/passwd'],
  ])('refuses %s with 403 naming BRAINCELLS_MONITOR_ROOTS', async (_label, target) => {
    const response = await inject(env.team.owner, 'POST', `${base()}/imports`, { path: target() });
    expect(response.statusCode).toBe(403);
    expect(response.json().error.code).toBe('FORBIDDEN');
    expect(response.json().error.message).toContain('BRAINCELLS_MONITOR_ROOTS');
    expect(response.body).not.toContain(dir);
  });

  it('refuses relative paths and control characters with 400 naming the field', async () => {
    const relative = await inject(env.team.owner, 'POST', `${base()}/imports`, {
      path: 'allowed/projects',
    });
    expect(relative.statusCode).toBe(400);
    expect(relative.body).toContain('path');
    const control = await inject(env.team.owner, 'POST', `${base()}/imports`, {
      path: `${root}/a\u0000b`,
    });
    expect(control.statusCode).toBe(400);
    const source = await inject(env.team.owner, 'POST', `${base()}/imports`, {
      path: root,
      source: 'vim',
    });
    expect(source.statusCode).toBe(400);
    expect(source.body).toContain('source');
  });

  it('a path inside the roots that does not exist is 404, without the path in the answer', async () => {
    const response = await inject(env.team.owner, 'POST', `${base()}/imports`, {
      path: `${root}/missing`,
    });
    expect(response.statusCode).toBe(404);
    expect(response.body).not.toContain(root);
  });

  it('checks roles: a viewer cannot import (403), an outsider gets 404 everywhere', async () => {
    expect(
      (await inject(env.team.viewer, 'POST', `${base()}/imports`, { path: projects })).statusCode,
    ).toBe(403);
    for (const url of [
      '/sessions',
      '/daily',
      '/models',
      '/files',
      `/sessions/${encodeURIComponent(`cc:${CLAUDE_SESSION}`)}`,
    ]) {
      expect((await inject(env.team.outsider, 'GET', `${base()}${url}`)).statusCode).toBe(404);
    }
    expect(
      (await inject(env.team.outsider, 'POST', `${base()}/imports`, { path: projects })).statusCode,
    ).toBe(404);
  });

  it('breaks usage down by provider, project and git branch; every breakdown adds up to the same total', async () => {
    const get = async (by: string) => {
      const response = await inject(env.team.viewer, 'GET', `${base()}/breakdown?by=${by}`);
      expect(response.statusCode).toBe(200);
      expect(response.json().by).toBe(by);
      return response.json().items as {
        key: string | null;
        sessions: number;
        usageEvents: number;
        tokens: Record<string, number>;
      }[];
    };
    const project = await get('project');
    // Both sources ran in /home/dev/app; Claude's sub-agents take their session's directory.
    expect(project).toHaveLength(1);
    expect(project[0]).toMatchObject({ key: '/home/dev/app', sessions: 5, usageEvents: 9 });
    const branch = await get('branch');
    // Claude Code's lines name branch main (its sub-agents inherit it); OpenCode names none.
    expect(branch.find((row) => row.key === 'main')).toMatchObject({
      sessions: 3,
      usageEvents: 5,
      tokens: { input: 22 + 3 + 1, output: 322 + 40 + 2 },
    });
    expect(branch.find((row) => row.key === null)).toMatchObject({ sessions: 2, usageEvents: 4 });
    const provider = await get('provider');
    expect(provider.map((row) => row.key).sort()).toEqual(['anthropic', 'openai']);
    const total = (rows: { tokens: Record<string, number> }[]) =>
      rows.reduce((sum, row) => sum + Object.values(row.tokens).reduce((a, b) => a + b, 0), 0);
    expect(total(branch)).toBe(total(project));
    expect(total(provider)).toBe(total(project));

    const bad = await inject(env.team.viewer, 'GET', `${base()}/breakdown?by=sql`);
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.code).toBe('VALIDATION_ERROR');
    expect(bad.body).toContain('by');
    expect((await inject(env.team.viewer, 'GET', `${base()}/breakdown`)).statusCode).toBe(400);
    expect(
      (await inject(env.team.outsider, 'GET', `${base()}/breakdown?by=provider`)).statusCode,
    ).toBe(404);
  });

  it('an unknown time zone is a 400 naming the field', async () => {
    const response = await inject(env.team.viewer, 'GET', `${base()}/daily?timezone=Mars/Olympus`);
    expect(response.statusCode).toBe(400);
    expect(response.body).toContain('timezone');
  });

  it('with no roots configured, the API imports no server path', async () => {
    const other = await createTestApp({ startJobs: false });
    try {
      const members = await createProjectWithMembers(other);
      const response = await other.app.inject({
        method: 'POST',
        url: `/api/projects/${members.project.id}/monitor/imports`,
        headers: members.owner.headers,
        payload: { path: root },
      });
      expect(response.statusCode).toBe(403);
      expect(response.json().error.message).toContain('BRAINCELLS_MONITOR_ROOTS');
    } finally {
      await other.close();
    }
  });

  it('imports uploads at the relative paths their names give; uploading again changes no total', async () => {
    const other = await createProjectWithMembers(env.t);
    const url = `/api/projects/${other.project.id}/monitor/uploads`;
    const body = multipartFiles(claudeFiles(projects));
    const upload = () =>
      env.t.app.inject({
        method: 'POST',
        url,
        headers: { ...other.editor.headers, 'content-type': body.contentType },
        payload: body.payload,
      });
    const first = await upload();
    expect(first.statusCode).toBe(200);
    expect(first.json()).toMatchObject({ files: 3, sessions: 3, usageEvents: 5, badLines: 3 });
    const report = () =>
      env.t.app.monitor
        .sessionReport(other.viewer.actor, other.project.id)
        .then((rows) => rows.map((row) => [row.agentId, row.agentType, row.tokens, row.costNano]));
    const before = await report();
    expect(before).toContainEqual([
      'aac57f5',
      'Explore',
      { input: 3, output: 40, reasoning: 0, cacheRead: 0, cacheWrite: 0 },
      609_000,
    ]);
    expect((await upload()).statusCode).toBe(200);
    expect(await report()).toEqual(before);
    // Stored under upload:<id>/…, never a server path; the uploaded copies are gone.
    const files = (
      await env.t.app.inject({
        method: 'GET',
        url: url.replace('/uploads', '/files'),
        headers: other.viewer.headers,
      })
    ).json();
    expect(files.items.every((file: { path: string }) => file.path.startsWith('upload:'))).toBe(
      true,
    );
    expect(JSON.stringify(files)).not.toContain(env.t.storage.dataDir);
    expect(readdirSync(path.join(env.t.storage.dataDir, 'monitor-uploads'))).toEqual([]);
  });

  it.each([
    ['../../escape.jsonl'],
    ['/etc/cron.d/x.jsonl'],
    ['a/../../b.jsonl'],
    ['a\\..\\b.jsonl'],
    ['./a.jsonl'],
    ['a//b.jsonl'],
    ['C:evil.jsonl'],
    ['a/b\u0001.jsonl'],
  ])('refuses the upload name %j with 400 naming the file, importing nothing', async (name) => {
    const other = await createProjectWithMembers(env.t);
    const body = multipartFiles([
      { name: 'fine/ok.jsonl', content: '{"type":"user"}\n' },
      { name, content: '{"type":"user"}\n' },
    ]);
    const response = await env.t.app.inject({
      method: 'POST',
      url: `/api/projects/${other.project.id}/monitor/uploads`,
      headers: { ...other.editor.headers, 'content-type': body.contentType },
      payload: body.payload,
    });
    expect(response.statusCode).toBe(400);
    expect(response.json().error.details.issues[0].path).toBe('files[1]');
    expect(await env.t.app.monitor.files(other.viewer.actor, other.project.id)).toEqual([]);
    expect(existsSync(path.join(dir, 'escape.jsonl'))).toBe(false);
    expect(readdirSync(path.join(env.t.storage.dataDir, 'monitor-uploads'))).toEqual([]);
  });

  it('a viewer cannot upload', async () => {
    const body = multipartFiles([{ name: 'a.jsonl', content: '{}\n' }]);
    const response = await env.t.app.inject({
      method: 'POST',
      url: `${base()}/uploads`,
      headers: { ...env.team.viewer.headers, 'content-type': body.contentType },
      payload: body.payload,
    });
    expect(response.statusCode).toBe(403);
  });

  it('describes its routes in the OpenAPI document', async () => {
    const doc = (await env.t.app.inject({ method: 'GET', url: '/api/openapi.json' })).json();
    const importRoute = doc.paths['/api/projects/{projectId}/monitor/imports'].post;
    expect(importRoute.description).toContain('BRAINCELLS_MONITOR_ROOTS');
    expect(doc.paths['/api/projects/{projectId}/monitor/daily'].get.summary).toContain('time zone');
  });
});
