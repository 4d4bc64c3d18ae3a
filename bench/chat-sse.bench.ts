// Chat live streams (issue #16, "Figures to report"): 1,000 Server-Sent Events subscribers of one
// thread on one node (`GET …/chat/threads/:t/events`, the real HTTP route with an API key), one
// of which never reads. Figures: the server's memory per subscriber (RSS and JS heap after GC,
// before and after they connect), and the delivery p99 of a reply's events to the 999 others
// (goal < 100 ms) — from the publish on the node's event bus to the client having parsed the
// event. The subscribers are a child process (bench/chat-sse-clients.ts), as browsers would be.
//
// First a burst of large events fills the stalled client's socket buffers, so its server-side
// queue is full (coalesced, or `resync`) while the timed events go out: 200 `message-delta`
// events of a growing reply, one every 10 ms (a reply writes one every 100 ms at most).
//
//   npm run bench -- chat-sse
//
// BENCH_CHAT_SSE_SUBSCRIBERS (default 1,000) and BENCH_CHAT_SSE_EVENTS (default 200).
import { spawn } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { insertUser } from '../src/auth/user-store.ts';
import { threadStream } from '../src/chat/chat-reply-run.ts';
import { uuidv7 } from '../src/platform/ids.ts';
import { type BenchRow, percentile, round } from './bench-types.ts';
import { openChatBenchApp } from './chat-bench-helpers.ts';
import { spawnFakeLlm } from './llm-fake-child.ts';

const SUBSCRIBERS = Number(process.env.BENCH_CHAT_SSE_SUBSCRIBERS ?? 1_000);
const EVENTS = Number(process.env.BENCH_CHAT_SSE_EVENTS ?? 200);
const FILL_EVENTS = 400;
const GOAL_MS = 100;
const KEY = 'sk-bench-chat-sse';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function memory() {
  gc();
  const { rss, heapUsed } = process.memoryUsage();
  return { rss, heapUsed };
}

export default async function chatSseBench(): Promise<BenchRow[]> {
  const fake = await spawnFakeLlm(KEY);
  const opened = await openChatBenchApp({
    fakeUrl: fake.url,
    apiKey: KEY,
    workers: false,
    // Every subscriber comes from 127.0.0.1: no per-address connection or request bound here.
    config: (base) => ({
      http: { ...base.http, maxConnectionsPerIp: 0 },
      rateLimit: { ...base.rateLimit, perIp: 1_000_000, perUser: 1_000_000 },
    }),
  });
  const { app, platform } = opened;
  try {
    const db = platform.database.db;
    const user = await insertUser(db, {
      id: uuidv7(),
      email: 'bench-sse@example.test',
      display_name: 'Bench',
      password_hash: 'not-a-password',
      is_admin: false,
      now: new Date(),
    });
    const session = {
      userId: user.id,
      isAdmin: false,
      via: 'session' as const,
      scopes: ['read', 'write', 'admin'] as const,
      credentialId: 'bench',
    };
    const project = await app.services.projects.createProject(session, {
      name: 'Bench SSE',
      description: '',
    });
    const { key } = await app.services.apiKeys.create(session, { name: 'bench', scopes: ['read'] });
    const thread = await app.chat.createThread(session, project.id, {
      title: 'Watched by many',
      model: 'gpt-4o-mini',
      provider: opened.providerId,
      instructions: '',
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const address = app.server.address();
    if (!address || typeof address === 'string') throw new Error('no address');
    const url = `http://127.0.0.1:${address.port}/api/projects/${project.id}/chat/threads/${thread.id}/events`;
    const stream = threadStream(thread.id);
    const events = app.features.events;

    const before = memory();
    const child = spawn(
      process.execPath,
      [
        path.join(import.meta.dirname, 'chat-sse-clients.ts'),
        url,
        `Bearer ${key}`,
        String(SUBSCRIBERS),
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
    const next = async (expected: string) => {
      const line = await lines.next();
      if (line.done) throw new Error(`the subscribers exited before "${expected}"`);
      return line.value;
    };
    try {
      if ((await next('ready')) !== 'ready') throw new Error('subscribers not ready');
      // The route subscribes after answering its headers.
      while (events.subscriberCount(stream) < SUBSCRIBERS) await sleep(20);
      const after = memory();

      // Fill the stalled client's socket buffers (the others read it all).
      const filler = 'x'.repeat(8_000);
      for (let n = 0; n < FILL_EVENTS; n++) {
        void events.publish(stream, { type: 'bench-fill', data: { n, filler } });
        if (n % 20 === 19) await sleep(5);
      }
      await events.publish(stream, { type: 'bench-filled', data: {} });
      if ((await next('filled')) !== 'filled') throw new Error('subscribers not filled');

      const messageId = uuidv7();
      let text = '';
      for (let n = 0; n < EVENTS; n++) {
        const offset = text.length;
        const piece = ` word${n}`;
        text += piece;
        await events.publish(stream, {
          type: 'message-delta',
          data: {
            messageId,
            offset,
            text: piece,
            sentAt: performance.timeOrigin + performance.now(),
          },
        });
        await sleep(10);
      }
      await events.publish(stream, { type: 'bench-end', data: {} });
      const result = JSON.parse(await next('results')) as {
        latencies: number[];
        stalledBytes: number;
      };
      const latencies = result.latencies.sort((a, b) => a - b);
      const expected = EVENTS * (SUBSCRIBERS - 1);
      const p99 = round(percentile(latencies, 99), 2);
      const perRss = (after.rss - before.rss) / SUBSCRIBERS / 1024;
      const perHeap = (after.heapUsed - before.heapUsed) / SUBSCRIBERS / 1024;
      return [
        {
          name: `chat SSE: ${SUBSCRIBERS} subscribers of one thread, server memory per subscriber (RSS; JS heap ${round(perHeap, 1)} KiB)`,
          value: round(perRss, 1),
          unit: 'KiB',
        },
        {
          name: `chat SSE: event delivery to the ${SUBSCRIBERS - 1} reading subscribers beside one that never reads, p99 (p50 ${round(percentile(latencies, 50), 2)} ms; ${latencies.length} of ${expected} deltas delivered)`,
          value: p99,
          unit: 'ms',
          against: { label: 'goal ms', value: GOAL_MS },
          ratio: round(p99 / GOAL_MS),
          goal: '< 1',
          pass: p99 < GOAL_MS && latencies.length === expected,
        },
      ];
    } finally {
      child.kill('SIGTERM');
    }
  } finally {
    await opened.close();
    await fake.close();
  }
}
