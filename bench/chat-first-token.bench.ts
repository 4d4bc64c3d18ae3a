// Chat time to first token (issue #16, "Figures to report"): what a chat reply adds to the
// provider's own time to first token. The peer is the same streamed call made directly with the
// AI SDK's OpenAI provider (what our adapter uses) against the same fake provider, a child
// process; ours is `sendMessage` (the user message, the reply placeholder, the audit row, the
// durable run) up to the first `message-delta` on the thread's event bus, with the reply's text
// persisted before that delta is published. Direct and chat calls alternate so drift hits both.
// p50 of the added time against the 5 ms goal.
//
// Two ways a reply's run starts:
//   - executed at once in this process (`runs.execute`, as `braincells chat` does): the cost of
//     the reply path itself — the goal row;
//   - taken from the job queue by a worker (how the server runs it): adds the queue's pickup,
//     printed beside it (BENCH_CHAT_TTFT_QUEUED replies, default 20; 0 leaves it out).
//
//   npm run bench -- chat-first-token
//
// BENCH_CHAT_TTFT_REPLIES: replies per path (default 300).
import { createOpenAI } from '@ai-sdk/openai';
import { streamText } from 'ai';
import { threadStream } from '../src/chat/chat-reply-run.ts';
import { type BenchRow, percentile, round } from './bench-types.ts';
import { type ChatBenchApp, openChatBenchApp } from './chat-bench-helpers.ts';
import { spawnFakeLlm } from './llm-fake-child.ts';

const KEY = 'sk-bench-chat-ttft';
const REPLIES = Number(process.env.BENCH_CHAT_TTFT_REPLIES ?? 300);
const QUEUED = Number(process.env.BENCH_CHAT_TTFT_QUEUED ?? 20);
const GOAL_MS = 5;
const MODEL = 'gpt-4o-mini';

const sorted = (values: number[]) => [...values].sort((a, b) => a - b);

/**
 * Sends one message in a new thread and answers the time from the call to the first delta of
 * its reply, once the reply has ended (`execute` runs it here; otherwise a worker does).
 */
async function chatFirstToken(
  opened: ChatBenchApp,
  index: number,
  execute: boolean,
): Promise<number> {
  const { app, platform, actor, projectId, providerId } = opened;
  const chat = app.features.chat.service;
  const events = app.features.events;
  const thread = await chat.createThread(actor, projectId, {
    title: `Bench ${index}`,
    model: MODEL,
    provider: providerId,
    instructions: '',
  });
  const stream = threadStream(thread.id);
  const subscription = await events.subscribe(stream, { lastEventId: await events.lastId(stream) });
  let firstDelta: number | undefined;
  let ended!: () => void;
  const end = new Promise<void>((resolve) => {
    ended = resolve;
  });
  subscription.onReady(() => {
    for (const event of subscription.take()) {
      if (event.type === 'message-delta') firstDelta ??= performance.now();
      const data = event.data as { role?: string; status?: string };
      if (
        event.type === 'message-updated' &&
        data.role === 'assistant' &&
        data.status !== 'streaming'
      )
        ended();
      if (event.type === 'error') ended();
    }
  });
  try {
    const started = performance.now();
    const sent = await chat.sendMessage(actor, projectId, thread.id, {
      content: `Summarise row ${index} of the benchmark dataset`,
    });
    if (execute) {
      const runId = await chat.replyRunId(actor, projectId, thread.id, sent.assistantMessage.id);
      await platform.runs.execute(runId!);
    }
    await end;
    if (firstDelta === undefined) throw new Error(`reply ${index} streamed no text`);
    return firstDelta - started;
  } finally {
    subscription.close();
  }
}

export default async function chatFirstTokenBench(): Promise<BenchRow[]> {
  const fake = await spawnFakeLlm(KEY);
  const direct = createOpenAI({ baseURL: `${fake.url}/v1`, apiKey: KEY });
  const directFirstToken = async (index: number) => {
    const started = performance.now();
    const result = streamText({
      model: direct(MODEL),
      prompt: `Summarise row ${index} of the benchmark dataset`,
      maxRetries: 0,
    });
    let first: number | undefined;
    for await (const part of result.fullStream)
      if (part.type === 'text-delta') first ??= performance.now();
    if (first === undefined) throw new Error('the direct call streamed no text');
    return first - started;
  };
  const apps: ChatBenchApp[] = [];
  try {
    const inline = await openChatBenchApp({ fakeUrl: fake.url, apiKey: KEY, workers: false });
    apps.push(inline);
    for (let i = 0; i < Math.min(30, REPLIES); i++) {
      await directFirstToken(i);
      await chatFirstToken(inline, i, true);
    }
    const directMs: number[] = [];
    const chatMs: number[] = [];
    for (let i = 0; i < REPLIES; i++) {
      directMs.push(await directFirstToken(i));
      chatMs.push(await chatFirstToken(inline, i, true));
    }
    const d = percentile(sorted(directMs), 50);
    const c = percentile(sorted(chatMs), 50);
    const added = round(c - d, 3);
    const rows: BenchRow[] = [
      { name: 'chat first token: direct AI SDK call, p50', value: round(d, 3), unit: 'ms' },
      {
        name: `chat first token: sendMessage → first delta, run executed at once (${REPLIES} replies), p50`,
        value: round(c, 3),
        unit: 'ms',
      },
      {
        name: 'chat first token: added by the reply path, p50',
        value: added,
        unit: 'ms',
        against: { label: 'goal', value: GOAL_MS },
        ratio: round(added / GOAL_MS, 2),
        goal: `< ${GOAL_MS} ms`,
        pass: added < GOAL_MS,
      },
      {
        name: 'chat first token: added by the reply path, p99',
        value: round(percentile(sorted(chatMs), 99) - percentile(sorted(directMs), 99), 3),
        unit: 'ms',
      },
    ];
    if (QUEUED > 0) {
      const queued = await openChatBenchApp({ fakeUrl: fake.url, apiKey: KEY, workers: true });
      apps.push(queued);
      const queuedMs: number[] = [];
      for (let i = 0; i < QUEUED; i++) queuedMs.push(await chatFirstToken(queued, i, false));
      const q = percentile(sorted(queuedMs), 50);
      rows.push({
        name: `chat first token: added with the run taken from the job queue by a worker (${QUEUED} replies), p50`,
        value: round(q - d, 3),
        unit: 'ms',
        against: { label: 'goal', value: GOAL_MS },
        ratio: round((q - d) / GOAL_MS, 2),
        goal: `< ${GOAL_MS} ms`,
        pass: q - d < GOAL_MS,
      });
    }
    return rows;
  } finally {
    for (const app of apps) await app.close();
    await fake.close();
  }
}
