import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../../test/eventually.ts';
import { createProjectWithMembers } from '../../test/factories.ts';
import { loadConfig } from '../platform/config.ts';
import type { AgentView } from './chat-agent-presenter.ts';
import type { MessageView, ThreadView } from './chat-presenter.ts';
import { CHAT_FAKE_KEY, type ChatTestEnv, openChatTestEnv } from './chat-test-env.ts';

// Agents with tools end to end over HTTP: the agents API (versions, 409 on a stale edit, 404
// across projects), and replies that call query_sheet / read_rows / web_search through the
// sheets service and the search adapters, against tools/fake-llm on both protocols.
let env: ChatTestEnv;
let search: Server;
const searchQueries: string[] = [];
let anthropicProvider: string;
let datasetId: string;

beforeAll(async () => {
  // A SearXNG instance on loopback: the real adapter, a local answer.
  search = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://localhost');
    searchQueries.push(url.searchParams.get('q') ?? '');
    response.setHeader('content-type', 'application/json');
    response.end(
      JSON.stringify({
        results: [{ url: 'https://example.org/lisbon', title: 'Lisbon', content: 'Sunny, 24°C' }],
      }),
    );
  });
  await new Promise<void>((resolve) => search.listen(0, '127.0.0.1', resolve));
  const base = loadConfig({}, {});
  const port = (search.address() as AddressInfo).port;
  env = await openChatTestEnv({
    config: {
      generation: {
        ...base.generation,
        search: { ...base.generation.search, searxngUrl: `http://127.0.0.1:${port}` },
      },
    },
  });
  const provider = await env.t.app.llm.admin.createProvider(
    env.members.owner.actor,
    env.projectId,
    {
      name: 'fake anthropic',
      kind: 'anthropic',
      baseUrl: `${env.fake.url}/v1`,
      apiKey: CHAT_FAKE_KEY,
      maxConcurrency: 16,
    },
  );
  anthropicProvider = provider.id;
  const dataset = await env.t.app.features.sheets.sheets.createDataset(
    env.members.owner.actor,
    env.projectId,
    { name: 'Cities', rows: 3, columns: [{ name: 'city', type: 'text' }] },
  );
  datasetId = dataset.id;
});
afterAll(async () => {
  await env?.close();
  await new Promise((resolve) => search?.close(resolve));
});

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
const call = (method: Method, url: string, headers: Record<string, string>, payload?: object) =>
  env.t.app.inject({ method, url, headers, ...(payload ? { payload } : {}) });
const editor = () => env.members.editor.headers;
const agentsUrl = () => `/api/projects/${env.projectId}/chat/agents`;
const threadsUrl = () => `/api/projects/${env.projectId}/chat/threads`;

let agentCount = 0;
async function newAgent(fields: Record<string, unknown>): Promise<AgentView> {
  const response = await call('POST', agentsUrl(), editor(), {
    name: `Analyst ${++agentCount}`,
    instructions: 'You answer questions about the project data.',
    model: 'gpt-4o-mini',
    provider: env.providerId,
    tools: ['query_sheet', 'read_rows', 'web_search'],
    ...fields,
  });
  expect(response.statusCode, response.body).toBe(201);
  return response.json();
}

/** Starts a thread with the agent, sends `content`, waits for the reply to settle. */
async function ask(agent: AgentView, content: string): Promise<MessageView> {
  const created = await call('POST', threadsUrl(), editor(), { agentId: agent.id });
  expect(created.statusCode, created.body).toBe(201);
  const thread: ThreadView = created.json();
  const sent = await call('POST', `${threadsUrl()}/${thread.id}/messages`, editor(), { content });
  expect(sent.statusCode, sent.body).toBe(202);
  const replyId: string = sent.json().assistantMessage.id;
  return eventually(
    async () => {
      const page = await call('GET', `${threadsUrl()}/${thread.id}/messages`, editor());
      return (page.json().items as MessageView[]).find((message) => message.id === replyId);
    },
    (message) => message !== undefined && message.status !== 'streaming',
    { what: `reply ${replyId} settled` },
  ) as Promise<MessageView>;
}

/**
 * A model id that makes the fake answer its first request of `key` with `args` as the tool
 * input (control values are percent-decoded: only `%` and `,` need escaping).
 */
const forcedArgs = (model: string, key: string, args: object) =>
  `${model}@output=${JSON.stringify(args).replaceAll('%', '%25').replaceAll(',', '%2C')},output-times=1,key=${key}`;

const toolResults = (message: MessageView) =>
  message.parts.filter((part) => part.type === 'tool-result');

describe('agents API', () => {
  it('creates, versions, lists and deletes agents; a stale edit is 409', async () => {
    const agent = await newAgent({ tools: ['query_sheet'], parameters: { temperature: 0.2 } });
    expect(agent).toMatchObject({ version: 1, tools: ['query_sheet'], maxToolSteps: 4 });
    const edited = await call('PUT', `${agentsUrl()}/${agent.id}`, editor(), {
      name: agent.name,
      model: 'gpt-4o',
      instructions: 'Be brief.',
      tools: ['web_search'],
      version: 1,
    });
    expect(edited.statusCode, edited.body).toBe(200);
    expect(edited.json()).toMatchObject({ version: 2, model: 'gpt-4o', tools: ['web_search'] });
    const stale = await call('PUT', `${agentsUrl()}/${agent.id}`, editor(), {
      name: agent.name,
      model: 'gpt-4o-mini',
      version: 1,
    });
    expect(stale.statusCode).toBe(409);
    expect(stale.json().error.details).toMatchObject({ version: 2 });
    const versions = await call('GET', `${agentsUrl()}/${agent.id}/versions`, editor());
    expect(versions.json().items.map((version: AgentView) => version.version)).toEqual([2, 1]);
    expect(versions.json().items[1]).toMatchObject({
      instructions: 'You answer questions about the project data.',
      parameters: { temperature: 0.2 },
    });
    const list = await call('GET', agentsUrl(), env.members.viewer.headers);
    expect(list.json().items.find((item: AgentView) => item.id === agent.id)).toMatchObject({
      version: 2,
    });
    expect((await call('DELETE', `${agentsUrl()}/${agent.id}`, editor())).statusCode).toBe(204);
    expect((await call('GET', `${agentsUrl()}/${agent.id}`, editor())).statusCode).toBe(404);
  });

  it('names the field on bad input, refuses viewers, duplicates and other projects', async () => {
    const bad = await call('POST', agentsUrl(), editor(), {
      name: 'Bad',
      model: 'gpt-4o-mini',
      tools: ['shell'],
    });
    expect(bad.statusCode).toBe(400);
    expect(JSON.stringify(bad.json().error)).toContain('tools');
    const steps = await call('POST', agentsUrl(), editor(), {
      name: 'Bad',
      model: 'gpt-4o-mini',
      maxToolSteps: 99,
    });
    expect(steps.statusCode).toBe(400);
    expect(JSON.stringify(steps.json().error)).toContain('maxToolSteps');
    const viewer = await call('POST', agentsUrl(), env.members.viewer.headers, {
      name: 'Viewer agent',
      model: 'gpt-4o-mini',
    });
    expect(viewer.statusCode).toBe(403);
    const agent = await newAgent({});
    const duplicate = await call('POST', agentsUrl(), editor(), {
      name: agent.name.toUpperCase(),
      model: 'gpt-4o-mini',
    });
    expect(duplicate.statusCode).toBe(409);
    const list = await call('GET', agentsUrl(), editor());
    expect(list.json().items.filter((item: AgentView) => item.name === 'Bad')).toEqual([]);

    const other = await createProjectWithMembers(env.t);
    const foreign = await call(
      'POST',
      `/api/projects/${other.project.id}/chat/agents`,
      other.owner.headers,
      { name: 'Theirs', model: 'gpt-4o-mini' },
    );
    expect(foreign.statusCode).toBe(201);
    const theirs: AgentView = foreign.json();
    expect((await call('GET', `${agentsUrl()}/${theirs.id}`, editor())).statusCode).toBe(404);
    const thread = await call('POST', threadsUrl(), editor(), { agentId: theirs.id });
    expect(thread.statusCode).toBe(404);
    expect(
      (await call('GET', `/api/projects/${other.project.id}/chat/agents`, editor())).statusCode,
    ).toBe(404);
  });
});

describe('agent totals', () => {
  it("shows what an agent's replies cost, on the agent and in the list, apart from other agents", async () => {
    const agent = await newAgent({ tools: [] });
    const other = await newAgent({ tools: [] });
    const read = async (id: string) =>
      (await call('GET', `${agentsUrl()}/${id}`, editor())).json().totals as {
        calls: number;
        outputTokens: number;
        costNano: number;
      };
    expect(await read(agent.id)).toEqual({
      calls: 0,
      inputTokens: 0,
      outputTokens: 0,
      costNano: 0,
      unpricedCalls: 0,
    });
    const reply = await ask(agent, 'What does this cost?');
    expect(reply.status).toBe('done');
    // Usage rows are written in batches: wait for the reply's.
    const totals = await eventually(
      () => read(agent.id),
      (value) => value.calls >= 1,
      { what: 'agent totals' },
    );
    expect(totals.outputTokens).toBe(reply.usage.outputTokens);
    expect(totals.costNano).toBeGreaterThan(0);
    expect((await read(other.id)).calls).toBe(0);
    const list = (await call('GET', agentsUrl(), editor())).json().items as {
      id: string;
      totals: { calls: number };
    }[];
    expect(list.find((item) => item.id === agent.id)!.totals.calls).toBe(totals.calls);
  });
});

describe.each([
  ['openai', 'gpt-4o-mini'],
  ['anthropic', 'claude-3-5-haiku-latest'],
] as const)('%s: replies with tools', (kind, model) => {
  const provider = () => (kind === 'openai' ? env.providerId : anthropicProvider);

  it('runs query_sheet through the sheets SQL and sends the result back to the model', async () => {
    const key = `q-${kind}-${Date.now()}`;
    const agent = await newAgent({
      provider: provider(),
      model: forcedArgs(model, key, { datasetId, sql: 'SELECT count(*)::INT AS n FROM dataset' }),
    });
    const before = env.fake.requests.length;
    const reply = await ask(agent, 'How many cities? call:query_sheet');
    expect(reply.status, JSON.stringify(reply.error)).toBe('done');
    expect(reply).toMatchObject({ agentId: agent.id, agentVersion: 1 });
    expect(reply.parts.map((part) => part.type)).toEqual(['tool-call', 'tool-result']);
    const [result] = toolResults(reply);
    expect(result).toMatchObject({ toolName: 'query_sheet', isError: false, step: 1 });
    expect(result?.type === 'tool-result' && result.output).toMatchObject({
      rows: [{ n: 3 }],
    });
    const requests = env.fake.requests.slice(before);
    expect(requests).toHaveLength(2);
    // The second call carries the agent's instructions, the call and its result.
    const second = JSON.stringify(requests[1]!.body).replaceAll('\\', '');
    expect(second).toContain('You answer questions about the project data.');
    expect(second).toContain('"n":3');
    expect(reply.content.length).toBeGreaterThan(0);
  });

  it('a failing tool and invalid arguments become results the model sees', async () => {
    const failing = await newAgent({
      provider: provider(),
      model: forcedArgs(model, `f-${kind}-${Date.now()}`, {
        datasetId,
        sql: 'SELECT * FROM nowhere',
      }),
    });
    const failed = await ask(failing, 'call:query_sheet');
    expect(failed.status).toBe('done');
    const [error] = toolResults(failed);
    expect(error).toMatchObject({ isError: true, output: { error: { code: 'VALIDATION_ERROR' } } });

    const invalid = await newAgent({
      provider: provider(),
      model: forcedArgs(model, `i-${kind}-${Date.now()}`, { sql: 42 }),
    });
    const answered = await ask(invalid, 'call:query_sheet');
    expect(answered.status).toBe('done');
    expect(toolResults(answered)[0]).toMatchObject({
      isError: true,
      output: { error: { code: 'INVALID_ARGUMENTS' } },
    });
  });

  it('bounds the tool rounds: after maxToolSteps the model must answer in text', async () => {
    const agent = await newAgent({ provider: provider(), model, maxToolSteps: 2 });
    const before = env.fake.requests.length;
    const reply = await ask(agent, `Keep reading ${Date.now()} loop:read_rows`);
    expect(reply.status).toBe('done');
    expect(toolResults(reply).map((part) => part.step)).toEqual([1, 2]);
    const requests = env.fake.requests.slice(before);
    expect(requests).toHaveLength(3);
    // The last call may not call tools: tool choice `none` (the SDK may then leave tools out).
    const lastBody = JSON.stringify(requests[2]!.body);
    expect(lastBody.includes('"tool_choice":"none"') || !lastBody.includes('"tools"')).toBe(true);
    expect(JSON.stringify(requests[1]!.body)).toContain('"tools"');
  });
});

describe('agent tools, attacks and pinning', () => {
  it('query_sheet cannot reach files or other tables: the sandbox refuses, nothing leaks', async () => {
    for (const sql of [
      "SELECT * FROM read_csv('/etc/passwd')",
      "COPY (SELECT 1) TO '/tmp/chat-agent-escape.csv'",
      'SELECT * FROM chat_message',
    ]) {
      const agent = await newAgent({
        model: forcedArgs('gpt-4o-mini', `a-${Date.now()}-${sql.length}`, { datasetId, sql }),
      });
      const reply = await ask(agent, 'call:query_sheet');
      const [result] = toolResults(reply);
      expect(result, sql).toMatchObject({ isError: true });
      expect(JSON.stringify(result)).not.toContain('root:');
    }
  });

  it('web_search goes through the configured search adapter', async () => {
    const agent = await newAgent({
      model: forcedArgs('gpt-4o-mini', `w-${Date.now()}`, { query: 'weather in Lisbon' }),
    });
    const reply = await ask(agent, 'call:web_search');
    expect(searchQueries).toContain('weather in Lisbon');
    expect(toolResults(reply)[0]).toMatchObject({
      isError: false,
      output: { results: [{ url: 'https://example.org/lisbon', title: 'Lisbon' }] },
    });
  });

  it('read_rows reads a window by column name; a tool the agent lacks is refused', async () => {
    const agent = await newAgent({
      tools: ['read_rows'],
      model: forcedArgs('gpt-4o-mini', `r-${Date.now()}`, { datasetId, limit: 2 }),
    });
    const reply = await ask(agent, 'call:read_rows');
    const [result] = toolResults(reply);
    expect(result).toMatchObject({ isError: false, output: { total: 3, offset: 0 } });
    const output = (result as { output: { rows: { values: object }[] } }).output;
    expect(output.rows).toHaveLength(2);
    expect(output.rows[0]!.values).toHaveProperty('city');
  });

  it('list_datasets finds a dataset by name through the sheets service, on the fake model', async () => {
    const agent = await newAgent({
      tools: ['list_datasets', 'query_sheet'],
      model: forcedArgs('gpt-4o-mini', `l-${Date.now()}`, { query: 'citi', limit: 1 }),
    });
    const reply = await ask(agent, 'Which datasets are there? call:list_datasets');
    expect(reply.status, JSON.stringify(reply.error)).toBe('done');
    const [result] = toolResults(reply);
    expect(result).toMatchObject({
      toolName: 'list_datasets',
      isError: false,
      output: {
        total: 1,
        offset: 0,
        nextOffset: null,
        datasets: [
          { id: datasetId, name: 'Cities', rowCount: 3, columns: [{ name: 'city', type: 'text' }] },
        ],
      },
    });
  });

  it('an agent edited and deleted after the send does not change the running reply', async () => {
    const agent = await newAgent({
      instructions: 'Version one instructions.',
      model: forcedArgs('gpt-4o-mini', `p-${Date.now()}`, { datasetId, limit: 1 }),
      tools: ['read_rows'],
    });
    const created = await call('POST', threadsUrl(), editor(), { agentId: agent.id });
    const thread: ThreadView = created.json();
    const before = env.fake.requests.length;
    const sent = await call('POST', `${threadsUrl()}/${thread.id}/messages`, editor(), {
      content: 'call:read_rows',
    });
    expect(sent.statusCode).toBe(202);
    const edited = await call('PUT', `${agentsUrl()}/${agent.id}`, editor(), {
      name: agent.name,
      model: 'gpt-4o',
      instructions: 'Version two instructions.',
      tools: [],
      version: 1,
    });
    expect(edited.statusCode).toBe(200);
    expect((await call('DELETE', `${agentsUrl()}/${agent.id}`, editor())).statusCode).toBe(204);
    const replyId: string = sent.json().assistantMessage.id;
    const reply = (await eventually(
      async () =>
        (
          (await call('GET', `${threadsUrl()}/${thread.id}/messages`, editor())).json()
            .items as MessageView[]
        ).find((message) => message.id === replyId),
      (message) => message !== undefined && message.status !== 'streaming',
      { what: 'pinned reply settled' },
    )) as MessageView;
    expect(reply).toMatchObject({ status: 'done', agentVersion: 1 });
    expect(toolResults(reply)).toHaveLength(1);
    const bodies = env.fake.requests.slice(before).map((request) => JSON.stringify(request.body));
    expect(bodies).toHaveLength(2);
    for (const body of bodies) {
      expect(body).toContain('Version one instructions.');
      expect(body).not.toContain('Version two instructions.');
    }
    // The next message in that thread is refused: its agent is gone.
    const next = await call('POST', `${threadsUrl()}/${thread.id}/messages`, editor(), {
      content: 'again',
    });
    expect(next.statusCode).toBe(409);
  });
});
