// Chat time to first token (issue #16, "Figures to report"): what a chat reply adds to the
// provider's own time to first token. The peer is the same streamed call made directly with the
// AI SDK's OpenAI provider (what our adapter uses) against the same fake provider, a child
// process; ours is `sendMessage` (the user message, the reply placeholder, the audit row, the
// durable run) up to the first `message-delta` on the thread's event bus, with the reply's text
// persisted before that delta is published. Direct and chat calls alternate so drift hits both.
// p50 of the added time against the 5 ms goal.
//
// Two ways a reply's run starts:
//   - on a server that runs workers (the default `all` role): `sendMessage` reserves the run for
//     its own process and executes it at once, no job queue in between — the goal row;
//   - executed by the caller (`runs.execute` after `sendMessage(…, { runHere: true })`, as
//     `braincells chat` does, whose process runs no workers): the run is created reserved for
//     the caller's process, which executes it with the context the send read — printed beside it. (An API-only server's replies go through the queue to a worker
//     elsewhere: that adds the queue's pickup to this path.)
// Direct calls and both paths alternate, so drift hits all three.
//
//   npm run bench -- chat-first-token
//
// BENCH_CHAT_TTFT_REPLIES: replies per path (default 300).
// CPU time of this process from the call to the first delta is printed beside each wall time
// (the fake provider is a child process): on a loaded machine it compares runs where the wall
// time cannot.
// BENCH_CHAT_TTFT_PROFILE=<dir>: after the warm-up, runs only chat replies (REPLIES of them,
// on the server path) under the CPU profiler and the sampling allocation profiler, writes
// `<dir>/chat-first-token.cpuprofile` / `.heapprofile`, and prints self time and bytes allocated
// per package and the SQL statements PGlite ran per reply, before its first delta and in all
// (docs/chat.md, "Benchmarks"); `chat-first-token.windows.json` holds each reply's window up to
// its first delta and when PGlite ran which statement, for `bench/chat-first-token-windows.ts`.
// BENCH_CHAT_TTFT_PROFILE_PATH=caller profiles the other path.
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createOpenAI } from '@ai-sdk/openai';
import type { PGlite } from '@electric-sql/pglite';
import { streamText } from 'ai';
import { threadStream } from '../src/chat/chat-reply-run.ts';
import { countStatements, profiled } from './bench-profile.ts';
import { type BenchRow, percentile, round } from './bench-types.ts';
import { type ChatBenchApp, openChatBenchApp } from './chat-bench-helpers.ts';
import { spawnFakeLlm } from './llm-fake-child.ts';

const KEY = 'sk-bench-chat-ttft';
const REPLIES = Number(process.env.BENCH_CHAT_TTFT_REPLIES ?? 300);
const GOAL_MS = 5;
const MODEL = 'gpt-4o-mini';

const sorted = (values: number[]) => [...values].sort((a, b) => a - b);
const cpuSince = (since: NodeJS.CpuUsage) => {
  const used = process.cpuUsage(since);
  return (used.user + used.system) / 1000;
};

/** Wall and CPU milliseconds from a call to its first token. */
interface FirstToken {
  ms: number;
  cpuMs: number;
}

/**
 * Sends one message in a new thread and answers the time from the call to the first delta of
 * its reply, once the reply has ended (`execute` runs it here; otherwise a worker does).
 * `marks` are called when the timed part starts and when that delta arrives.
 */
async function chatFirstToken(
  opened: ChatBenchApp,
  index: number,
  execute: boolean,
  marks?: { start(): void; firstDelta(): void },
): Promise<FirstToken> {
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
  let firstCpu = 0;
  let cpuStart = process.cpuUsage();
  let ended!: () => void;
  const end = new Promise<void>((resolve) => {
    ended = resolve;
  });
  subscription.onReady(() => {
    for (const event of subscription.take()) {
      if (event.type === 'message-delta' && firstDelta === undefined) {
        firstDelta = performance.now();
        firstCpu = cpuSince(cpuStart);
        marks?.firstDelta();
      }
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
    marks?.start();
    cpuStart = process.cpuUsage();
    const started = performance.now();
    const sent = await chat.sendMessage(
      actor,
      projectId,
      thread.id,
      { content: `Summarise row ${index} of the benchmark dataset` },
      // As `braincells chat`: the run reserved for this process, which executes it.
      execute ? { runHere: true } : {},
    );
    if (execute) await platform.runs.execute(sent.runId!);
    await end;
    if (firstDelta === undefined) throw new Error(`reply ${index} streamed no text`);
    return { ms: firstDelta - started, cpuMs: firstCpu };
  } finally {
    subscription.close();
  }
}

/**
 * When PGlite ran which statement, in the profiler's clock: `[sql head, start, end]` per
 * protocol message it executed (its WASM work is synchronous inside each), so a profile's
 * samples can be charged to statements. The text comes from the extended protocol's Parse
 * message ('P', length, statement name, query), which starts each statement.
 */
function recordStatementRuns(pglite: PGlite | undefined, micros: () => number) {
  const runs: [string, number, number][] = [];
  if (!pglite) return runs;
  let current = '(none)';
  const decoder = new TextDecoder();
  const exec = pglite.execProtocolStream.bind(pglite);
  // Prepared statements (PREPARED, src/platform/db/pglite-driver.ts) by name: their later
  // runs are a Bind ('B', length, portal, statement name) without a Parse.
  const named = new Map<string, string>();
  pglite.execProtocolStream = (async (message: Uint8Array, ...rest: unknown[]) => {
    if (message[0] === 0x50) {
      const nameEnd = message.indexOf(0, 5);
      const textEnd = message.indexOf(0, nameEnd + 1);
      current = decoder
        .decode(message.subarray(nameEnd + 1, textEnd))
        .trim()
        .replace(/\s+/g, ' ')
        .slice(0, 60);
      if (nameEnd > 5) named.set(decoder.decode(message.subarray(5, nameEnd)), current);
    } else if (message[0] === 0x42) {
      const portalEnd = message.indexOf(0, 5);
      const name = decoder.decode(
        message.subarray(portalEnd + 1, message.indexOf(0, portalEnd + 1)),
      );
      if (name) current = named.get(name) ?? current;
    } else if (message[0] === 0x51) {
      current = decoder.decode(message.subarray(5, 65)).trim().replace(/\s+/g, ' ');
    }
    const start = micros();
    try {
      return await (exec as (...args: unknown[]) => Promise<unknown>)(message, ...rest);
    } finally {
      runs.push([current, start, micros()]);
    }
  }) as PGlite['execProtocolStream'];
  return runs;
}

export default async function chatFirstTokenBench(): Promise<BenchRow[]> {
  const fake = await spawnFakeLlm(KEY);
  const direct = createOpenAI({ baseURL: `${fake.url}/v1`, apiKey: KEY });
  const directFirstToken = async (index: number): Promise<FirstToken> => {
    const cpuStart = process.cpuUsage();
    const started = performance.now();
    const result = streamText({
      model: direct(MODEL),
      prompt: `Summarise row ${index} of the benchmark dataset`,
      maxRetries: 0,
    });
    let first: number | undefined;
    let cpuMs = 0;
    for await (const part of result.fullStream)
      if (part.type === 'text-delta' && first === undefined) {
        first = performance.now();
        cpuMs = cpuSince(cpuStart);
      }
    if (first === undefined) throw new Error('the direct call streamed no text');
    return { ms: first - started, cpuMs };
  };
  const apps: ChatBenchApp[] = [];
  try {
    const caller = await openChatBenchApp({ fakeUrl: fake.url, apiKey: KEY, workers: false });
    apps.push(caller);
    const server = await openChatBenchApp({ fakeUrl: fake.url, apiKey: KEY, workers: true });
    apps.push(server);
    const profileDir = process.env.BENCH_CHAT_TTFT_PROFILE;
    const profiledApp = process.env.BENCH_CHAT_TTFT_PROFILE_PATH === 'caller' ? caller : server;
    // Counted from before the warm-up, which prepares the PREPARED statements (their later runs
    // are known by name only).
    const micros = () => Number(process.hrtime.bigint() / 1000n);
    const statements = profileDir
      ? countStatements(profiledApp.platform.database.pglite)
      : undefined;
    const execs = profileDir
      ? recordStatementRuns(profiledApp.platform.database.pglite, micros)
      : [];
    for (let i = 0; i < Math.min(30, REPLIES); i++) {
      await directFirstToken(i);
      await chatFirstToken(caller, i, true);
      await chatFirstToken(server, i, false);
    }
    if (profileDir && statements) {
      statements.clear();
      let beforeFirst = 0;
      // The first-delta windows in the profiler's clock (µs of CLOCK_MONOTONIC, as hrtime), so
      // a profile's samples can be split into the path to the first delta and the rest.
      const windows: [number, number][] = [];
      await profiled(profileDir, 'chat-first-token', REPLIES, async () => {
        for (let i = 0; i < REPLIES; i++) {
          let start = 0;
          await chatFirstToken(profiledApp, i, profiledApp === caller, {
            start: () => {
              start = statements.total();
              windows.push([micros(), 0]);
            },
            firstDelta: () => {
              beforeFirst += statements.total() - start;
              (windows.at(-1) as [number, number])[1] = micros();
            },
          });
        }
      });
      writeFileSync(
        path.join(profileDir, 'chat-first-token.windows.json'),
        JSON.stringify({ windows, statements: execs }),
      );
      process.stderr.write(
        `chat-first-token: SQL statements per reply: ${round(beforeFirst / REPLIES, 2)} before its first delta, ${round(statements.total() / REPLIES, 2)} in all\n${statements.report(REPLIES)}\n`,
      );
      return [];
    }
    const directMs: number[] = [];
    const serverMs: number[] = [];
    const callerMs: number[] = [];
    const cpu = { direct: 0, server: 0, caller: 0 };
    for (let i = 0; i < REPLIES; i++) {
      const direct = await directFirstToken(i);
      directMs.push(direct.ms);
      cpu.direct += direct.cpuMs;
      const viaServer = await chatFirstToken(server, i, false);
      serverMs.push(viaServer.ms);
      cpu.server += viaServer.cpuMs;
      const viaCaller = await chatFirstToken(caller, i, true);
      callerMs.push(viaCaller.ms);
      cpu.caller += viaCaller.cpuMs;
    }
    const p = (values: number[], at: number) => percentile(sorted(values), at);
    const d = p(directMs, 50);
    const added = round(p(serverMs, 50) - d, 3);
    const addedByCaller = round(p(callerMs, 50) - d, 3);
    const rows: BenchRow[] = [
      { name: 'chat first token: direct AI SDK call, p50', value: round(d, 3), unit: 'ms' },
      {
        name: `chat first token: sendMessage → first delta on a server running workers, the run executed where it was sent (${REPLIES} replies), p50`,
        value: round(p(serverMs, 50), 3),
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
        value: round(p(serverMs, 99) - p(directMs, 99), 3),
        unit: 'ms',
      },
      {
        name: `chat first token: added with the run queued and executed by the caller (as \`braincells chat\`, ${REPLIES} replies), p50`,
        value: addedByCaller,
        unit: 'ms',
        against: { label: 'goal', value: GOAL_MS },
        ratio: round(addedByCaller / GOAL_MS, 2),
        goal: `< ${GOAL_MS} ms`,
        pass: addedByCaller < GOAL_MS,
      },
      // CPU time of this process up to the first token: comparable across runs on a loaded
      // machine, unlike the wall times above.
      {
        name: 'chat first token: CPU to the first token, direct AI SDK call',
        value: round(cpu.direct / REPLIES, 3),
        unit: 'ms',
      },
      {
        name: 'chat first token: CPU to the first delta added by the reply path (server)',
        value: round((cpu.server - cpu.direct) / REPLIES, 3),
        unit: 'ms',
      },
      {
        name: 'chat first token: CPU to the first delta added by the reply path (executed by the caller)',
        value: round((cpu.caller - cpu.direct) / REPLIES, 3),
        unit: 'ms',
      },
    ];
    // The figures above are only comparable on a quiet machine: this says how quiet it was.
    rows.push({
      name: 'chat first token: load average (1 min) at the end',
      value: round(os.loadavg()[0] ?? 0, 2),
      unit: 'load',
    });
    return rows;
  } finally {
    for (const app of apps) await app.close();
    await fake.close();
  }
}
