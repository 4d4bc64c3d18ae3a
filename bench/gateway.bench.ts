// Gateway figures (issue #19): the latency the gateway adds over calling the fake provider
// directly with the same official `openai` client (p50/p99, goal p50 < 1 ms), the same for a
// streamed call read to its end (chunk pass-through), split into what the LLM module adds on
// its own (the same call through `llm.stream` in-process, no HTTP in front) and the rest (HTTP
// server, gateway key and wire format); and many concurrent streamed calls from one address on
// one server with default connection and rate-limit settings: all complete, RSS high-water.
// CPU time per call is printed too: on a loaded machine it compares runs where latency cannot.
// Sizes: BENCH_GATEWAY_CALLS (default 2,000; 0 runs only the concurrent calls),
// BENCH_GATEWAY_CONCURRENT (default 1,000).
// BENCH_GATEWAY_PROFILE=<dir>: after the warm-up, runs only gateway calls (CALLS of each kind)
// under the CPU profiler and the sampling allocation profiler, writes `<dir>/gateway-<kind>
// .cpuprofile` / `.heapprofile` and prints self time and allocated bytes per package: where the
// added time goes, independent of how loaded the machine is (docs/gateway.md, "Latency").
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';
import { buildApp } from '../src/app.ts';
import { systemActor } from '../src/auth/system-actor.ts';
import { type Config, loadConfig } from '../src/platform/config.ts';
import { uuidv7 } from '../src/platform/ids.ts';
import { createLogger } from '../src/platform/logger.ts';
import { openPlatform } from '../src/platform/platform.ts';
import { countStatements, profiled } from './bench-profile.ts';
import { type BenchRow, percentile, round } from './bench-types.ts';
import { spawnFakeLlm } from './llm-fake-child.ts';

const KEY = 'sk-bench-gateway';
// The upstream connection's kind. `openai-compatible` speaks Chat Completions upstream, as the
// direct client does, so both sides make the same request to the fake provider (and plain
// calls take the adapter's fast path, llm-sdk-wire.ts); `openai` goes through the AI SDK's
// Responses API (a different request upstream, and the SDK's per-call work).
const KIND = (process.env.BENCH_GATEWAY_KIND ?? 'openai-compatible') as
  | 'openai'
  | 'openai-compatible';
const CALLS = Number(process.env.BENCH_GATEWAY_CALLS ?? 2_000);
const CONCURRENT = Number(process.env.BENCH_GATEWAY_CONCURRENT ?? 1_000);
const GOAL_MS = 1;

const stats = (samples: number[]) => {
  const sorted = [...samples].sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99) };
};

export default async function gatewayBench(): Promise<BenchRow[]> {
  const fake = await spawnFakeLlm(KEY);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bc-bench-gateway-'));
  const base = loadConfig({ BRAINCELLS_DATA_DIR: dir }, {});
  const config: Config = {
    ...base,
    port: 0,
    jobsEnabled: false,
    logLevel: 'silent',
    // Every caller here is 127.0.0.1, past the per-address connection bound (default 100):
    // the default overflow for the gateway (2,000) and key concurrency (1,000) carry them, and
    // the per-address request limit (600 a minute) does not count calls with a known key.
    llm: { ...base.llm, maxConcurrency: CONCURRENT },
  };
  const platform = await openPlatform(config, createLogger({ level: 'silent', format: 'json' }));
  const app = await buildApp(platform);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const rows: BenchRow[] = [];
  try {
    const address = app.server.address();
    if (!address || typeof address === 'string') throw new Error('no address');
    const actor = systemActor();
    const projectId = uuidv7();
    await platform.database.db
      .insertInto('project')
      .values({ id: projectId, name: 'Bench' })
      .execute();
    const provider = await app.llm.admin.createProvider(actor, projectId, {
      name: 'fake',
      kind: KIND,
      baseUrl: `${fake.url}/v1`,
      apiKey: KEY,
      maxConcurrency: CONCURRENT,
    });
    const { key: created } = await app.gateway.service.createKey(actor, projectId, {
      name: 'bench',
      models: [{ name: 'fast', provider: provider.id, model: 'gpt-4o-mini' }],
    });
    const direct = new OpenAI({ baseURL: `${fake.url}/v1`, apiKey: KEY, maxRetries: 0 });
    const gateway = new OpenAI({
      baseURL: `http://127.0.0.1:${address.port}/v1`,
      apiKey: created,
      maxRetries: 0,
    });
    const body = (prompt: string) => ({
      messages: [{ role: 'user' as const, content: prompt }],
      max_tokens: 64,
    });
    const plain = (client: OpenAI, model: string, prompt: string) =>
      client.chat.completions.create({ model, ...body(prompt) });
    // The same call as the gateway makes it, in-process: what the LLM module adds by itself.
    const inProcess = async (prompt: string) => {
      for await (const _event of app.llm.llm.stream({
        projectId,
        feature: 'gateway',
        provider: provider.id,
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: prompt }],
        parameters: { maxOutputTokens: 64 },
        cache: 'off',
        usageDurability: 'outbox',
      }))
        void _event;
    };
    const streamed = async (client: OpenAI, model: string, prompt: string) => {
      const stream = await client.chat.completions.create({
        model,
        ...body(prompt),
        stream: true,
        stream_options: { include_usage: true },
      });
      for await (const _chunk of stream) chunks++;
    };
    // Chunks the gateway's streamed answers carry (for the per-chunk pass-through figure).
    let chunks = 0;

    for (let i = 0; i < Math.min(200, CALLS); i++) {
      await plain(direct, 'gpt-4o-mini', `warm ${i}`);
      await plain(gateway, 'fast', `warm ${i}`);
      await inProcess(`warm ${i}`);
    }

    // Alternate direct, in-process and gateway calls so drift hits all alike.
    const phases = [
      ['non-streamed', plain],
      ['streamed', streamed],
    ] as const;
    const profileDir = process.env.BENCH_GATEWAY_PROFILE;
    if (profileDir) {
      const statements = countStatements(platform.database.pglite);
      for (const [label, call] of phases) {
        statements.clear();
        await profiled(profileDir, `gateway-${label}`, CALLS, async () => {
          for (let i = 0; i < CALLS; i++)
            await call(gateway, 'fast', `Summarise row ${i} of the benchmark dataset`);
          await app.llm.llm.flush();
        });
        process.stderr.write(
          `gateway-${label}: SQL statements per call\n${statements.report(CALLS)}\n`,
        );
      }
      return rows;
    }
    const addedP50 = new Map<string, number>();
    let chunksPerCall = 0;
    for (const [label, call] of CALLS > 0 ? phases : []) {
      const directMs: number[] = [];
      const llmMs: number[] = [];
      const gatewayMs: number[] = [];
      // CPU time of this process (client, server, LLM module; the fake provider is a child).
      const cpu = { direct: 0, llm: 0, gateway: 0 };
      const cpuOf = (since: NodeJS.CpuUsage) => {
        const used = process.cpuUsage(since);
        return (used.user + used.system) / 1000;
      };
      for (let i = 0; i < CALLS; i++) {
        const prompt = `Summarise row ${i} of the benchmark dataset`;
        let started = performance.now();
        let cpuStart = process.cpuUsage();
        await call(direct, 'gpt-4o-mini', prompt);
        directMs.push(performance.now() - started);
        cpu.direct += cpuOf(cpuStart);
        started = performance.now();
        cpuStart = process.cpuUsage();
        await inProcess(prompt);
        llmMs.push(performance.now() - started);
        cpu.llm += cpuOf(cpuStart);
        started = performance.now();
        cpuStart = process.cpuUsage();
        const before = chunks;
        await call(gateway, 'fast', prompt);
        if (call === streamed) chunksPerCall += (chunks - before) / CALLS;
        gatewayMs.push(performance.now() - started);
        cpu.gateway += cpuOf(cpuStart);
      }
      const d = stats(directMs);
      const l = stats(llmMs);
      const g = stats(gatewayMs);
      const added = round(g.p50 - d.p50, 3);
      addedP50.set(label, added);
      rows.push(
        { name: `gateway ${label}: direct p50`, value: round(d.p50, 3), unit: 'ms' },
        { name: `gateway ${label}: through the gateway p50`, value: round(g.p50, 3), unit: 'ms' },
        {
          name: `gateway ${label}: added p50`,
          value: added,
          unit: 'ms',
          against: { label: 'goal', value: GOAL_MS },
          ratio: round(added / GOAL_MS, 2),
          goal: `< ${GOAL_MS} ms`,
          pass: added < GOAL_MS,
        },
        { name: `gateway ${label}: added p99`, value: round(g.p99 - d.p99, 3), unit: 'ms' },
        {
          name: `gateway ${label}: of which the LLM module in-process p50`,
          value: round(l.p50 - d.p50, 3),
          unit: 'ms',
        },
        {
          name: `gateway ${label}: of which HTTP + gateway p50`,
          value: round(g.p50 - l.p50, 3),
          unit: 'ms',
        },
        // CPU time per call: comparable across runs on a loaded machine, unlike latency.
        {
          name: `gateway ${label}: CPU per call, LLM module in-process`,
          value: round(cpu.llm / CALLS, 3),
          unit: 'ms',
        },
        {
          name: `gateway ${label}: CPU per call added by the gateway (server side)`,
          value: round((cpu.gateway - cpu.direct) / CALLS, 3),
          unit: 'ms',
        },
        {
          name: `gateway ${label}: gateway / direct p50`,
          value: round(g.p50 / d.p50, 2),
          unit: 'x',
          against: { label: 'direct', value: round(d.p50, 3) },
          ratio: round(g.p50 / d.p50, 2),
        },
      );
    }
    const streamedAdded = addedP50.get('streamed');
    const plainAdded = addedP50.get('non-streamed');
    if (streamedAdded !== undefined && plainAdded !== undefined && chunksPerCall > 0)
      // What streaming adds over a whole answer, spread over the chunks passed through.
      rows.push({
        name: `gateway streamed-chunk pass-through overhead (${round(chunksPerCall, 1)} chunks a call)`,
        value: round(((streamedAdded - plainAdded) * 1000) / chunksPerCall, 1),
        unit: 'µs/chunk',
      });

    // Many streamed calls at once on one server.
    let rssHigh = process.memoryUsage().rss;
    const sampler = setInterval(() => {
      rssHigh = Math.max(rssHigh, process.memoryUsage().rss);
    }, 20);
    const started = performance.now();
    const results = await Promise.allSettled(
      Array.from({ length: CONCURRENT }, (_, i) => streamed(gateway, 'fast', `concurrent ${i}`)),
    );
    clearInterval(sampler);
    const completed = results.filter((result) => result.status === 'fulfilled').length;
    // Why calls failed, by message (shown when some did).
    const failures = new Map<string, number>();
    for (const result of results)
      if (result.status === 'rejected') {
        const reason = String((result.reason as Error)?.message ?? result.reason).slice(0, 120);
        failures.set(reason, (failures.get(reason) ?? 0) + 1);
      }
    for (const [reason, count] of failures)
      process.stderr.write(`gateway bench: ${count} concurrent calls failed: ${reason}\n`);
    rows.push(
      {
        name: `gateway ${CONCURRENT} concurrent streamed calls completed`,
        value: completed,
        unit: 'calls',
        against: { label: 'started', value: CONCURRENT },
        ratio: round(completed / CONCURRENT, 3),
        goal: 'all',
        pass: completed === CONCURRENT,
      },
      {
        name: `gateway ${CONCURRENT} concurrent streamed calls wall time`,
        value: round(performance.now() - started, 0),
        unit: 'ms',
      },
      {
        name: 'gateway RSS high-water during the concurrent calls',
        value: round(rssHigh / 1024 / 1024, 1),
        unit: 'MiB',
      },
      // The figures above are only comparable on a quiet machine: this says how quiet it was.
      {
        name: 'gateway load average (1 min) at the end',
        value: round(os.loadavg()[0] ?? 0, 2),
        unit: 'load',
      },
    );
    await app.llm.llm.flush();
  } finally {
    await app.close();
    await platform.close();
    await fake.close();
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}
