import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { systemActor } from '../../src/auth/system-actor.ts';
import type { MessageView } from '../../src/chat/chat-presenter.ts';
import type { WorkflowRunView } from '../../src/workflows/workflow-presenter.ts';
import { fakeAnswer } from '../../tools/fake-llm/fake-llm-output.ts';
import type { RecordedRequest } from '../../tools/fake-llm/fake-llm-server.ts';
import { eventually } from '../eventually.ts';
import { registerTestSecret } from '../leak-scan.ts';
import { testDatabaseUrl } from '../test-postgres.ts';
import { reachable, TEST_REDIS_URL } from '../test-redis.ts';
import { CLUSTER_FAKE_KEY, clusterPerFile, openSse, type SseEvent } from './cluster-harness.ts';

// Issue #20: three real servers on one PostgreSQL and one Redis — s1 serves HTTP only (role
// api), s2 and s3 serve and run jobs (role all) — started once for this file. Runs here need no
// DuckDB dataset (each server still has its own DuckDB file until #20 item 3 lands).
const API = 0;
const CAP = 2;
const PER_USER_LIMIT = 120;
const PASSWORD = 'cluster-password-9f3b27';
const ready = testDatabaseUrl() !== undefined && (await reachable(TEST_REDIS_URL));

const prompt = (request: RecordedRequest) => JSON.stringify(request.body);
const runOf = (db: ReturnType<typeof clusterPerFile>['db'], id: string) =>
  db
    .selectFrom('durable_run')
    .select(['id', 'status', 'lease_owner', 'executions'])
    .where('id', '=', id)
    .executeTakeFirstOrThrow();
const pidOf = (leaseOwner: string | null) => Number(leaseOwner?.split('-')[0]);

describe.runIf(ready)('a cluster of three servers', { timeout: 240_000 }, () => {
  const t = clusterPerFile({
    roles: ['api', 'all', 'all'],
    env: {
      // A dead server's run is taken over within 10 s (the default 60 s is for production).
      // Not 5 s: with both cores busy a live executor's renewal (every third of the lease)
      // came late enough that another server took its run over and called a step again.
      BRAINCELLS_RUN_LEASE_MS: '10000',
      BRAINCELLS_RATE_LIMIT_PER_USER: String(PER_USER_LIMIT),
      BRAINCELLS_LOGIN_MAX_FAILURES: '3',
      BRAINCELLS_LOGIN_DELAY_MS: '0',
      // A Retry-After longer than 1 s fails the call that got it instead of waiting in it.
      BRAINCELLS_LLM_MAX_RETRY_AFTER_MS: '1000',
      BRAINCELLS_SHUTDOWN_TIMEOUT_MS: '2000',
    },
    more: async ({ app, actor, projectId, providerId, fakeUrl }) => {
      const thread = (title: string, model: string) =>
        app.chat.createThread(actor, projectId, {
          title,
          model,
          provider: providerId,
          instructions: '',
        });
      const capped = await app.llm.admin.createProvider(actor, projectId, {
        name: 'capped',
        kind: 'openai',
        baseUrl: `${fakeUrl}/v1`,
        apiKey: CLUSTER_FAKE_KEY,
        maxConcurrency: CAP,
      });
      const storm = await app.llm.admin.createProvider(actor, projectId, {
        name: 'storm',
        kind: 'openai',
        baseUrl: `${fakeUrl}/v1`,
        apiKey: CLUSTER_FAKE_KEY,
      });
      const gateway = await app.gateway.service.createKey(actor, projectId, {
        name: 'cluster',
        models: [
          { name: 'slow', provider: capped.id, model: 'gpt-4o-mini@latency=200' },
          {
            name: 'storm',
            provider: storm.id,
            model: `gpt-4o-mini@status=429,retry-after=3,fail-times=1,key=${randomUUID()}`,
          },
          { name: 'calm', provider: storm.id, model: 'gpt-4o-mini' },
        ],
      });
      registerTestSecret('api-key', gateway.key);
      // A second user: the per-user limit counts only this test's requests.
      registerTestSecret('password', PASSWORD);
      const user = await app.services.users.create(systemActor(), {
        email: 'limited@example.test',
        displayName: 'Limited',
        password: PASSWORD,
        isAdmin: false,
      });
      const limited = await app.services.apiKeys.create(
        {
          userId: user.id,
          isAdmin: false,
          via: 'session',
          scopes: ['read'],
          credentialId: undefined,
        },
        { name: 'limited', scopes: ['read'] },
      );
      registerTestSecret('api-key', limited.key);
      return {
        streamThread: (await thread('Streams', 'gpt-4o-mini@tps=40')).id,
        // The first reply stalls after three pieces (its server is killed then); the second answers.
        crashThread: (
          await thread('Crash', `gpt-4o-mini@hang-after=3,fail-times=1,key=${randomUUID()}`)
        ).id,
        gatewayKey: gateway.key,
        limitedKey: limited.key,
      };
    },
  });

  const threadUrl = (server: number, threadId: string) =>
    `${t.url(server)}/api/projects/${t.seeded.projectId}/chat/threads/${threadId}`;
  const send = async (server: number, threadId: string, content: string) => {
    const sent = await fetch(`${threadUrl(server, threadId)}/messages`, {
      method: 'POST',
      headers: t.headers,
      body: JSON.stringify({ content }),
    });
    expect(sent.status).toBe(202);
    return ((await sent.json()) as { assistantMessage: MessageView }).assistantMessage.id;
  };
  const settled = (messageId: string) => (event: SseEvent) =>
    event.type === 'message-updated' &&
    (event.data as MessageView).id === messageId &&
    (event.data as MessageView).status !== 'streaming';
  const replyRun = async (messageId: string) =>
    t.db
      .selectFrom('durable_run')
      .select(['id', 'status', 'lease_owner', 'executions'])
      .where(sql<string>`input->>'messageId'`, '=', messageId)
      .executeTakeFirstOrThrow();
  const gatewayCall = (server: number, model: string, content: string) =>
    fetch(`${t.url(server)}/v1/chat/completions`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${t.seeded.gatewayKey}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ model, messages: [{ role: 'user', content }] }),
    });

  it('an SSE client on the api server sees a reply that a server running jobs streams', async () => {
    const question = 'Which server streams this reply?';
    const sse = await openSse(`${threadUrl(API, t.seeded.streamThread)}/events`, t.headers);
    try {
      const replyId = await send(API, t.seeded.streamThread, question);
      const done = (await sse.until(settled(replyId))).data as MessageView;
      expect(done).toMatchObject({ status: 'done', content: fakeAnswer(question) });
      // The deltas another process published, applied in id order, make the same text.
      let text = '';
      for (const event of sse.events.filter((e) => e.type === 'message-delta')) {
        const delta = event.data as { messageId: string; offset: number; text: string };
        if (delta.messageId === replyId) text = text.slice(0, delta.offset) + delta.text;
      }
      expect(text).toBe(fakeAnswer(question));
      const ids = sse.events.map((event) => event.id);
      expect(ids).toEqual([...ids].sort((a, b) => a - b));
      // The run settles just after the message it wrote: executed once, by a server with workers.
      const run = await eventually(
        () => replyRun(replyId),
        (row) => row.status !== 'running',
        { what: 'the reply run to settle', intervalMs: 50 },
      );
      expect(run).toMatchObject({ status: 'completed', executions: 1 });
    } finally {
      await sse.close();
    }
  });

  it('the fake provider never sees more concurrent requests than its cap from all servers', async () => {
    t.fake.reset();
    const answers = await Promise.all(
      Array.from({ length: 12 }, (_, index) =>
        gatewayCall(index % 3, 'slow', `capped ${index}`).then((response) => response.status),
      ),
    );
    expect(answers).toEqual(Array(12).fill(200));
    expect(t.fake.stats()).toMatchObject({ received: 12, completed: 12 });
    expect(t.fake.stats().maxInFlight).toBeLessThanOrEqual(CAP);
  });

  it('a 429 with Retry-After seen by one server makes the others wait it out', async () => {
    t.fake.reset();
    // 3 s is more than the 1 s a call may wait: s2 answers 429 at once, after noting the pause.
    const refused = await gatewayCall(1, 'storm', 'storm');
    expect(refused.status).toBe(429);
    const first = t.fake.requests[0]!;
    expect(first.status).toBe(429);
    // s3 and s1 hold their calls to that provider until the pause s2 saw has passed.
    const later = await Promise.all([gatewayCall(2, 'calm', 'after'), gatewayCall(0, 'calm', 'x')]);
    expect(later.map((response) => response.status)).toEqual([200, 200]);
    const after = t.fake.requests.slice(1);
    expect(after).toHaveLength(2);
    for (const request of after)
      expect(request.receivedAt).toBeGreaterThanOrEqual(first.receivedAt + 3_000);
  });

  it('a user’s request limit and an account’s sign-in lockout hold across the servers', async () => {
    const headers = { authorization: `Bearer ${t.seeded.limitedKey}` };
    const me = (server: number) => fetch(`${t.url(server)}/api/auth/me`, { headers });
    const statuses: number[] = [];
    for (let index = 0; index < PER_USER_LIMIT; index++)
      statuses.push((await me(index % 3)).status);
    expect(statuses.filter((status) => status !== 200)).toEqual([]);
    // The budget is spent on every server, not on each one.
    for (const server of [0, 1, 2]) {
      const refused = await me(server);
      expect(refused.status).toBe(429);
      expect(((await refused.json()) as { error: { code: string } }).error.code).toBe(
        'RATE_LIMITED',
      );
    }

    const login = (server: number, password: string) =>
      fetch(`${t.url(server)}/api/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: 'limited@example.test', password }),
      });
    for (const server of [0, 1, 2])
      expect((await login(server, 'wrong-password')).status).toBe(401);
    // Three failures, one on each server: the account is locked everywhere.
    const locked = await login(1, PASSWORD);
    expect(locked.status).toBe(429);
  });

  it('kill -9 of the server streaming a reply: another finishes it, repeating only the call in flight', async () => {
    const question = 'What survives kill -9 in a cluster?';
    const sse = await openSse(`${threadUrl(API, t.seeded.crashThread)}/events`, t.headers);
    try {
      const replyId = await send(API, t.seeded.crashThread, question);
      await sse.until((event) => event.type === 'message-delta');
      const running = await replyRun(replyId);
      expect(running.status).toBe('running');
      const victim = t.serverOfPid(pidOf(running.lease_owner));
      expect(victim).not.toBe(API);
      await t.cluster.kill(victim);

      const done = (await sse.until(settled(replyId))).data as MessageView;
      expect(done).toMatchObject({ status: 'done', content: fakeAnswer(question) });
      const run = await eventually(
        () => replyRun(replyId),
        (row) => row.status !== 'running',
        { what: 'the reply run to settle', intervalMs: 50 },
      );
      expect(run).toMatchObject({ status: 'completed', executions: 2 });
      // The call the crash cut, and the one that answered.
      expect(t.fake.requests.filter((request) => prompt(request).includes(question))).toHaveLength(
        2,
      );
      await t.cluster.start(victim);
    } finally {
      await sse.close();
    }
  });

  it('a rolling restart of all three while a workflow runs: it completes, each step called once per executor', async () => {
    const api = (server: number) => `${t.url(server)}/api/projects/${t.seeded.projectId}`;
    // Steps one and two hang the first time (until their executor stops), then answer.
    const hangOnce = () => `gpt-4o-mini@hang,fail-times=1,key=${randomUUID()}`;
    const created = await fetch(`${api(API)}/workflows`, {
      method: 'POST',
      headers: t.headers,
      body: JSON.stringify({
        name: 'Rolling',
        definition: {
          steps: [
            {
              id: 'one',
              kind: 'llm',
              provider: t.seeded.providerId,
              model: hangOnce(),
              prompt: 'rolling one',
            },
            {
              id: 'two',
              kind: 'llm',
              provider: t.seeded.providerId,
              model: hangOnce(),
              prompt: 'rolling two',
              needs: ['one'],
            },
            {
              id: 'three',
              kind: 'llm',
              provider: t.seeded.providerId,
              model: 'gpt-4o-mini',
              prompt: 'rolling three',
              needs: ['two'],
            },
          ],
        },
      }),
    });
    expect(created.status).toBe(201);
    const workflow = (await created.json()) as { id: string };
    const started = await fetch(`${api(API)}/workflows/${workflow.id}/runs`, {
      method: 'POST',
      headers: t.headers,
      body: '{}',
    });
    expect(started.status).toBe(202);
    const runId = ((await started.json()) as { id: string }).id;
    const calls = (step: string) =>
      t.fake.requests.filter((request) => prompt(request).includes(`rolling ${step}`)).length;
    const called = (step: string, times: number) =>
      t.fake.waitFor(() => calls(step) === times, 120_000);
    const restart = async (server: number) => {
      await t.cluster.stop(server);
      await t.cluster.start(server);
    };
    const executor = async () => t.serverOfPid(pidOf((await runOf(t.db, runId)).lease_owner));

    await called('one', 1);
    const first = await executor();
    // The api server first: the run does not notice.
    await restart(API);
    expect(await executor()).toBe(first);
    expect(calls('one')).toBe(1);

    // Its executor: the run is handed back and goes on elsewhere (or on it, restarted).
    await restart(first);
    await called('two', 1);
    // Any server shows the run's progress while another executes it.
    const view = (await (
      await fetch(`${api(API)}/workflow-runs/${runId}`, { headers: t.headers })
    ).json()) as WorkflowRunView;
    expect(view.status).toBe('running');
    const statuses = Object.fromEntries(view.steps.map((step) => [step.id, step.status]));
    expect(statuses).toMatchObject({ one: 'completed', two: 'running' });

    // The executor of step two: handed back again, the run finishes elsewhere.
    const second = await executor();
    await restart(second);
    const finished = await eventually(
      () => runOf(t.db, runId),
      (run) => !['queued', 'running'].includes(run.status),
      { what: 'the workflow run to finish', timeoutMs: 120_000, intervalMs: 100 },
    );
    expect(finished.status).toBe('completed');
    expect([calls('one'), calls('two'), calls('three')]).toEqual([2, 2, 1]);
    // The same server may have taken the run back after its restart: the last one not
    // restarted yet goes now (the run is over; nothing may be left behind by it either).
    const last = [1, 2].find((server) => server !== first && server !== second);
    if (last !== undefined) await restart(last);
    const stuck = await t.db
      .selectFrom('durable_run')
      .select(['id', 'kind', 'status'])
      .where('status', 'in', ['queued', 'running'])
      .execute();
    expect(stuck).toEqual([]);
  });
});
