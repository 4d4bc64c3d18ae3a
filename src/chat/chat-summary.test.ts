import { describe, expect, it } from 'vitest';
import { eventually } from '../../test/eventually.ts';
import { testBackends } from '../../test/test-platform.ts';
import { contextWindowOf, DEFAULT_CONTEXT_WINDOW } from './chat-context-fit.ts';
import type { MessageView, SummaryView } from './chat-presenter.ts';
import { findThread } from './chat-store.ts';
import { claimSummaryWindow } from './chat-summary-claim.ts';
import { chatDb } from './chat-tables.ts';
import { chatEnvPerSuite, userTurnsOf } from './chat-test-env.ts';

// Visible summaries: explicit, one per window even when asked twice at once, the system
// prompt kept after them, the originals kept in the thread, tokens counted by the tokenizer.
describe.each(testBackends())('chat summaries on %s', (backend) => {
  const env = chatEnvPerSuite({ backend });

  const base = () => `/api/projects/${env.projectId}/chat/threads`;
  const inject = (method: 'GET' | 'POST', url: string, payload?: object) =>
    env.t.app.inject({
      method,
      url,
      headers: env.members.editor.headers,
      ...(payload ? { payload } : {}),
    });

  async function exchange(threadId: string, content: string) {
    const sent = await inject('POST', `${base()}/${threadId}/messages`, { content });
    expect(sent.statusCode).toBe(202);
    const replyId = (sent.json() as { assistantMessage: MessageView }).assistantMessage.id;
    await eventually(
      async () =>
        (
          (await inject('GET', `${base()}/${threadId}/messages?limit=200`)).json()
            .items as MessageView[]
        ).find((message) => message.id === replyId)?.status,
      (status) => status === 'done',
    );
  }

  it('summarizes once per window, keeps the instructions and sends only what follows', async () => {
    const created = await inject('POST', base(), {
      model: 'gpt-4o-mini',
      provider: env.providerId,
      instructions: 'Always answer in French.',
    });
    const threadId = created.json().id as string;
    for (let index = 0; index < 3; index++) await exchange(threadId, `Question number ${index}`);
    // Asked twice at once (two tabs, two servers): one claim wins, the other is refused.
    const claims = await Promise.all([
      inject('POST', `${base()}/${threadId}/summaries`, {}),
      inject('POST', `${base()}/${threadId}/summaries`, {}),
    ]);
    expect(claims.map((response) => response.statusCode).sort()).toEqual([202, 409]);
    const summaries = (await inject('GET', `${base()}/${threadId}/summaries`)).json()
      .items as SummaryView[];
    expect(summaries).toHaveLength(1);

    const summary = await eventually(
      async () =>
        (
          (await inject('GET', `${base()}/${threadId}/summaries`)).json().items as SummaryView[]
        )[0]!,
      (value) => value.status !== 'pending',
    );
    expect(summary).toMatchObject({ status: 'done', coveredMessages: 4, promptVersion: 1 });
    expect(summary.content.length).toBeGreaterThan(0);
    expect(summary.sourceTokens).toBeGreaterThan(0);
    expect(summary.summaryTokens).toBeGreaterThan(0);
    const summarizerCalls = env.fake.requests.filter((request) =>
      JSON.stringify(request.body).includes('You summarize a conversation'),
    );
    expect(summarizerCalls).toHaveLength(1);

    await exchange(threadId, 'Question number 3');
    const context = JSON.stringify(env.fake.requests.at(-1)!.body);
    expect(context).toContain('Always answer in French.');
    expect(context).toContain('Summary of the earlier conversation (4 messages)');
    expect(context).toContain(JSON.stringify(summary.content).slice(1, -1));
    // The summarized turns are no longer sent as messages; the ones after the summary are.
    const turns = userTurnsOf(env.fake.requests.at(-1)!.body);
    expect(turns).toHaveLength(2);
    expect(turns[0]).toContain('Question number 2');
    expect(turns[1]).toContain('Question number 3');

    // The originals stay in the thread.
    const messages = (await inject('GET', `${base()}/${threadId}/messages`)).json()
      .items as MessageView[];
    expect(
      messages.map((message) => message.content).filter((text) => text.startsWith('Question')),
    ).toEqual(['Question number 0', 'Question number 1', 'Question number 2', 'Question number 3']);
  });

  it('refuses with 409 when there is nothing new to summarize, and 404 for another project', async () => {
    const created = await inject('POST', base(), {
      model: 'gpt-4o-mini',
      provider: env.providerId,
    });
    const threadId = created.json().id as string;
    expect((await inject('POST', `${base()}/${threadId}/summaries`, {})).statusCode).toBe(409);
    await exchange(threadId, 'Only one exchange');
    expect((await inject('POST', `${base()}/${threadId}/summaries`, {})).statusCode).toBe(409);
    const outsider = await env.t.app.inject({
      method: 'GET',
      url: `${base()}/${threadId}/summaries`,
      headers: env.members.outsider.headers,
    });
    expect(outsider.statusCode).toBe(404);
  });

  it('a thread that outgrows its window is summarized automatically, once; instructions stay', async () => {
    // An agent that reserves all but ~400 tokens of the window for its answer: a few
    // exchanges outgrow what is left for the context.
    const window = contextWindowOf('gpt-4o-mini') ?? DEFAULT_CONTEXT_WINDOW;
    const agent = await inject('POST', `/api/projects/${env.projectId}/chat/agents`, {
      name: `Small window ${backend}`,
      instructions: 'Always answer in Portuguese.',
      model: 'gpt-4o-mini',
      provider: env.providerId,
      parameters: { maxOutputTokens: window - 400 },
    });
    expect(agent.statusCode, agent.body).toBe(201);
    const created = await inject('POST', base(), { agentId: agent.json().id });
    const threadId = created.json().id as string;
    const filler = 'tell me more about the old town and its tiled facades '.repeat(8);
    const summariesOf = async () =>
      (await inject('GET', `${base()}/${threadId}/summaries`)).json().items as SummaryView[];
    let index = 0;
    while ((await summariesOf()).length === 0 && index < 8)
      await exchange(threadId, `Question ${index++}: ${filler}`);
    const [summary] = await eventually(summariesOf, (items) =>
      items.every((item) => item.status !== 'pending'),
    );
    expect(summary).toMatchObject({ status: 'done' });
    expect(index).toBeGreaterThan(1);
    // The next reply sends the instructions, the summary and only the turns that fit.
    await exchange(threadId, 'And the food?');
    const context = JSON.stringify(env.fake.requests.at(-1)!.body);
    expect(context).toContain('Always answer in Portuguese.');
    expect(context).toContain('Summary of the earlier conversation');
    const userTurns = userTurnsOf(env.fake.requests.at(-1)!.body);
    // The oldest question is no longer sent as a turn (the summary stands for it).
    expect(userTurns.some((turn) => turn.includes('Question 0:'))).toBe(false);
    expect(userTurns.at(-1)).toContain('And the food?');
  });

  it('two workers claiming the same window at once: one claim, never two', async () => {
    const created = await inject('POST', base(), {
      model: 'gpt-4o-mini',
      provider: env.providerId,
    });
    const threadId = created.json().id as string;
    for (let index = 0; index < 3; index++) await exchange(threadId, `Claim question ${index}`);
    const db = chatDb(env.t.platform.database.db);
    const thread = (await findThread(db, env.projectId, threadId))!;
    const claims = await Promise.all(
      [1, 2].map(() =>
        claimSummaryWindow(db, thread, { model: 'gpt-4o-mini', provider: null, userId: null }),
      ),
    );
    // The loser either meets the winner's row (`claimed`) or, on PostgreSQL when the winner
    // committed first, sees that window already covered (`nothing-new`): never a second claim.
    const outcomes = claims.map((claim) => (claim.ok ? 'ok' : claim.reason));
    expect(outcomes.filter((outcome) => outcome === 'ok')).toHaveLength(1);
    expect(outcomes.filter((outcome) => outcome !== 'ok')).toEqual([
      expect.stringMatching(/^(claimed|nothing-new)$/),
    ]);
    expect(
      await db.selectFrom('chat_summary').select('id').where('thread_id', '=', threadId).execute(),
    ).toHaveLength(1);
  });

  it("summarizes with the agent's summarizer, else the project's, else the thread's model", async () => {
    const settingsUrl = `/api/projects/${env.projectId}/chat/settings`;
    const put = (headers: Record<string, string>, payload: object) =>
      env.t.app.inject({ method: 'PUT', url: settingsUrl, headers, payload });
    const refused = await put(env.members.editor.headers, {
      summaryModel: null,
      summaryProvider: env.providerId,
    });
    expect(refused.statusCode).toBe(400);
    expect(JSON.stringify(refused.json().error.details)).toContain('summaryProvider');
    expect(
      (await put(env.members.viewer.headers, { summaryModel: 'gpt-4.1-mini' })).statusCode,
    ).toBe(403);
    const saved = await put(env.members.editor.headers, {
      summaryModel: 'gpt-4.1-mini',
      summaryProvider: env.providerId,
    });
    expect(saved.statusCode, saved.body).toBe(200);
    expect((await inject('GET', settingsUrl)).json()).toMatchObject({
      summaryModel: 'gpt-4.1-mini',
      summaryProvider: env.providerId,
    });
    const agent = await inject('POST', `/api/projects/${env.projectId}/chat/agents`, {
      name: `Summarized ${backend}`,
      model: 'gpt-4o-mini',
      provider: env.providerId,
      summaryModel: 'gpt-4o',
      summaryProvider: env.providerId,
    });
    expect(agent.statusCode, agent.body).toBe(201);
    const summarizedWith = async (extra: object) => {
      const created = await inject('POST', base(), {
        model: 'gpt-4o-mini',
        provider: env.providerId,
        ...extra,
      });
      const threadId = created.json().id as string;
      for (let index = 0; index < 3; index++) await exchange(threadId, `Turn ${index}`);
      const claimed = await inject('POST', `${base()}/${threadId}/summaries`, {});
      expect(claimed.statusCode, claimed.body).toBe(202);
      return (claimed.json() as SummaryView).model;
    };
    expect(await summarizedWith({})).toBe('gpt-4.1-mini');
    expect(await summarizedWith({ agentId: agent.json().id })).toBe('gpt-4o');
    // Back to no project summarizer: the thread's model.
    expect((await put(env.members.editor.headers, { summaryModel: null })).json()).toMatchObject({
      summaryModel: null,
      summaryProvider: null,
    });
    expect(await summarizedWith({})).toBe('gpt-4o-mini');
  });
});
