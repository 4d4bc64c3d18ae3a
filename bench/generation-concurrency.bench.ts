// AI columns (issue 14, item 5): the concurrency a person sets is the one a run gets.
//
//   npm run bench -- generation-concurrency
//
// 1. A connection made with the defaults (no maxConcurrency given) and the default
//    BRAINCELLS_GENERATION_CONCURRENCY: a 1,000-row column at 200 ms, against N·L/C for the
//    window the run reports (C = min(server ceiling, connection cap)).
// 2. A connection at cap 10, warmed by a run, then raised to 64 through the API: the next
//    1,000-row run against N·L/64 (before the fix the limiter kept 10 and grew a step a round).
// 3. The peer, in the same sitting: the LLM module alone (no sheet, no engine), N calls 64 at a
//    time at 200 ± 100 ms, text and vision (a 48 KiB image as a data URL), on an `openai` and
//    an `openai-compatible` connection: the ratio to N·L̄/C and this process's CPU per call —
//    what the module itself can feed a provider (issues 14, 17, 18).
//    `GENERATION_CONCURRENCY_BENCH_PROFILE=<dir>` runs each peer under the CPU profiler.
// The fake LLM runs in its own process at 200 ms (no jitter; the peer's at 200 ± 100 ms).

import { randomBytes } from 'node:crypto';
import type { LlmMessage } from '../src/llm/llm-provider.ts';
import { loadConfig } from '../src/platform/config.ts';
import { mapLimit } from '../src/workflows/workflow-extract.ts';
import { countStatements, profiled } from './bench-profile.ts';
import { type BenchRow, round } from './bench-types.ts';
import { openGenerationBench, spawnFakeLlm } from './generation-bench-helpers.ts';

const ROWS = Number(process.env.GENERATION_CONCURRENCY_BENCH_ROWS ?? 1_000);
const LATENCY_MS = 200;
const PEER_CALLS = Number(process.env.GENERATION_CONCURRENCY_BENCH_PEER_CALLS ?? ROWS);
const PEER_CONCURRENCY = Number(process.env.GENERATION_CONCURRENCY_BENCH_PEER_CONCURRENCY ?? 64);
const PEER_JITTER_MS = 100;

export default async function generationConcurrencyBench(): Promise<BenchRow[]> {
  const fake = await spawnFakeLlm({ latencyMs: LATENCY_MS, jitterMs: 0 });
  const defaults = loadConfig({}, {});
  // The bench's own connection is not used; the runs below make theirs through the API.
  const bench = await openGenerationBench({ fakeUrl: fake.url, maxConcurrency: 1 });
  const rows: BenchRow[] = [];
  try {
    const { app, actor, projectId } = bench;
    if (process.env.GENERATION_CONCURRENCY_BENCH_PEER !== '0')
      rows.push(...(await llmModuleAlone(bench)));
    if (process.env.GENERATION_CONCURRENCY_BENCH_PEER === 'only') return rows;
    const { aiColumns, runs } = app.generation;

    const runColumn = async (providerId: string, name: string) => {
      const datasetId = await bench.dataset(ROWS);
      const created = await aiColumns.createAiColumn(actor, projectId, datasetId, {
        name,
        prompt: 'Write about {{Item}}',
        provider: providerId,
        model: 'gpt-4o-mini',
        run: false,
      });
      const started = performance.now();
      const run = await runs.startRun(actor, projectId, datasetId, created.column.id, {
        mode: 'all',
        confirm: true,
      });
      const ended = await bench.waitForRun(datasetId, run.id);
      const elapsed = performance.now() - started;
      if (ended.progress.done !== ROWS) throw new Error(`${name}: ${ended.progress.done} done`);
      return elapsed;
    };
    const ratioRow = (name: string, elapsedMs: number, window: number): BenchRow => {
      const ideal = (ROWS * LATENCY_MS) / window;
      const ratio = round(ideal / elapsedMs, 3);
      return {
        name,
        value: round((ROWS * 1000) / elapsedMs, 1),
        unit: 'cells/s',
        against: {
          label: `N·L/C limit cells/s (C = ${window})`,
          value: (window * 1000) / LATENCY_MS,
        },
        ratio,
        goal: 'ratio ≥ 0.8',
        pass: ratio >= 0.8,
      };
    };

    // Warm-up (JIT, token counter, first DuckDB tables), not measured.
    const warm = await app.llm.admin.createProvider(actor, projectId, {
      name: 'warm-up',
      kind: 'openai',
      baseUrl: `${fake.url}/v1`,
      apiKey: 'sk-bench',
    });
    await runColumn(warm.id, 'Warm-up');

    // 1. Defaults.
    const fresh = await app.llm.admin.createProvider(actor, projectId, {
      name: 'defaults',
      kind: 'openai',
      baseUrl: `${fake.url}/v1`,
      apiKey: 'sk-bench',
    });
    const window = Math.min(defaults.generation.concurrency, fresh.maxConcurrency);
    rows.push(
      ratioRow(
        `${ROWS} cells at ${LATENCY_MS} ms, new connection with default cap (${fresh.maxConcurrency})`,
        await runColumn(fresh.id, 'Defaults'),
        window,
      ),
    );

    // 2. A cap raised through the API applies to the next run at once.
    const raised = await app.llm.admin.createProvider(actor, projectId, {
      name: 'raised',
      kind: 'openai',
      baseUrl: `${fake.url}/v1`,
      apiKey: 'sk-bench',
      maxConcurrency: 10,
    });
    await runColumn(raised.id, 'Warm at 10');
    await app.llm.admin.updateProvider(actor, projectId, raised.id, { maxConcurrency: 64 });
    const seen = await app.llm.llm.concurrency(projectId, raised.id, 'gpt-4o-mini');
    rows.push({
      name: 'provider limit the next call gets after cap 10 → 64',
      value: seen.limit,
      unit: 'calls',
      against: { label: 'cap set', value: 64 },
      ratio: round(seen.limit / 64, 3),
      goal: 'ratio = 1',
      pass: seen.limit === 64,
    });
    rows.push(
      ratioRow(
        `${ROWS} cells at ${LATENCY_MS} ms, first run after cap 10 → 64`,
        await runColumn(raised.id, 'After raise'),
        Math.min(defaults.generation.concurrency, 64),
      ),
    );
  } finally {
    await bench.close();
    await fake.close();
  }
  return rows;
}

type Bench = Awaited<ReturnType<typeof openGenerationBench>>;

/** 3: the LLM module alone at C = 64, 200 ± 100 ms: ratio to N·L̄/C and CPU per call. */
async function llmModuleAlone(bench: Bench): Promise<BenchRow[]> {
  const fake = await spawnFakeLlm({ latencyMs: LATENCY_MS, jitterMs: PEER_JITTER_MS });
  const { app, actor, projectId } = bench;
  // Random bytes stand for an image's: the module sends them as they are (no decoding).
  const image = `data:image/png;base64,${randomBytes(48 * 1024).toString('base64')}`;
  const rows: BenchRow[] = [];
  try {
    const connections = new Map<string, string>();
    for (const kind of ['openai', 'openai-compatible'] as const) {
      const provider = await app.llm.admin.createProvider(actor, projectId, {
        name: `peer ${kind}`,
        kind,
        baseUrl: `${fake.url}/v1`,
        apiKey: 'sk-bench',
        maxConcurrency: PEER_CONCURRENCY,
      });
      connections.set(kind, provider.id);
    }
    const statements = countStatements(
      process.env.GENERATION_CONCURRENCY_BENCH_PROFILE ? bench.platform.database.pglite : undefined,
    );
    // Usage rows committed before each answer (`database`), then as the call asks by default.
    const cases = [
      { kind: 'openai', vision: false, durability: 'database' },
      { kind: 'openai', vision: false, durability: undefined },
      { kind: 'openai-compatible', vision: false, durability: 'database' },
      { kind: 'openai-compatible', vision: false, durability: undefined },
      { kind: 'openai-compatible', vision: true, durability: undefined },
      { kind: 'openai', vision: true, durability: undefined },
    ] as const;
    for (const { kind, vision, durability } of cases) {
      const providerId = connections.get(kind)!;
      // Each case its own prompts: none may be a cache hit of an earlier case.
      const tag = `${kind}${durability ?? ''}`;
      const call = async (index: number) => {
        const messages: LlmMessage[] = vision
          ? [
              {
                role: 'user',
                content: [
                  { type: 'text', text: `Describe the image, ${tag} ${index}` },
                  { type: 'image', url: image, mediaType: 'image/png' },
                ],
              },
            ]
          : [{ role: 'user', content: `Write about item ${tag} ${index}` }];
        await app.llm.llm
          .generate({
            userId: actor.userId,
            projectId,
            feature: 'sheet-cell',
            provider: providerId,
            model: 'gpt-4o-mini',
            messages,
            ...(durability ? { usageDurability: durability } : {}),
          })
          .catch((error: unknown) => {
            process.stderr.write(
              `${label} ${index}: ${JSON.stringify((error as { details?: unknown }).details)}\n`,
            );
            throw error;
          });
      };
      const label = `${kind} ${vision ? 'vision' : 'text'}${durability ? ` ${durability}` : ''}`;
      // Warm-up (JIT, the connection's keep-alive sockets), not measured.
      await mapLimit(
        Array.from({ length: 2 * PEER_CONCURRENCY }, (_, index) => -1 - index),
        PEER_CONCURRENCY,
        call,
      );
      await app.llm.llm.flush();
      const work = async () => {
        await mapLimit(
          Array.from({ length: PEER_CALLS }, (_, index) => index),
          PEER_CONCURRENCY,
          call,
        );
        // The rows of the outbox are part of the calls' cost.
        await app.llm.llm.flush();
      };
      const cpuBefore = process.cpuUsage();
      const started = performance.now();
      const profileDir = process.env.GENERATION_CONCURRENCY_BENCH_PROFILE;
      if (profileDir) {
        statements.clear();
        await profiled(profileDir, `llm-alone-${label.replaceAll(' ', '-')}`, PEER_CALLS, work);
        process.stderr.write(
          `llm-alone-${label.replaceAll(' ', '-')}: statements per call\n${statements.report(PEER_CALLS)}\n`,
        );
      } else await work();
      const elapsed = performance.now() - started;
      const cpu = process.cpuUsage(cpuBefore);
      const cpuPerCall = (cpu.user + cpu.system) / 1000 / PEER_CALLS;
      const ratio = round((PEER_CALLS * LATENCY_MS) / PEER_CONCURRENCY / elapsed, 3);
      rows.push(
        {
          name: `LLM module alone, ${label}: ${PEER_CALLS} calls at C=${PEER_CONCURRENCY}, ${LATENCY_MS} ± ${PEER_JITTER_MS} ms`,
          value: round((PEER_CALLS * 1000) / elapsed, 1),
          unit: 'calls/s',
          against: {
            label: 'N·L̄/C limit calls/s',
            value: (PEER_CONCURRENCY * 1000) / LATENCY_MS,
          },
          ratio,
        },
        {
          name: `LLM module alone, ${label}: CPU per call (this process)`,
          value: round(cpuPerCall, 3),
          unit: 'ms',
          against: {
            label: 'CPU a call may take at C/L̄ calls/s',
            value: LATENCY_MS / PEER_CONCURRENCY,
          },
          ratio: round(cpuPerCall / (LATENCY_MS / PEER_CONCURRENCY), 3),
        },
      );
    }
  } finally {
    await fake.close();
  }
  return rows;
}
