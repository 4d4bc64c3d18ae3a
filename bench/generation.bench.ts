// AI columns (issue 6): scheduler throughput against its limit N·L̄/C, the seed system's batch
// barrier for comparison, the LLM module alone as the ceiling on this machine, commit overhead
// per cell, call end → cell event at an SSE client, and RSS after 100,000 generated cells.
//
//   npm run bench -- generation
//
// The fake LLM server runs in its own process (latency 200 ± 100 ms). GENERATION_BENCH_ROWS
// and GENERATION_BENCH_RSS_CELLS shrink the runs for a quick look.

import type { Actor } from '../src/access/actor.ts';
import { insertUser } from '../src/auth/user-store.ts';
import type { LlmCallRequest, LlmCallResult } from '../src/llm/llm-service.ts';
import { createInProcessEventBus } from '../src/platform/events.ts';
import { uuidv7 } from '../src/platform/ids.ts';
import { createGenerationModule } from '../src/sheets/generation/generation-module.ts';
import { batchBarrier, slidingWindow } from '../src/sheets/generation/generation-scheduler.ts';
import type { CompareAndSetResult } from '../src/sheets/sheet-data-store.ts';
import { type BenchRow, percentile, round } from './bench-types.ts';
import { openGenerationBench, spawnFakeLlm } from './generation-bench-helpers.ts';

const ROWS = Number(process.env.GENERATION_BENCH_ROWS ?? 10_000);
const RSS_CELLS = Number(process.env.GENERATION_BENCH_RSS_CELLS ?? 100_000);
const CONCURRENCY = 64;
const LATENCY_MS = 200;
const JITTER_MS = 100;
const SMALL_ROWS = Number(process.env.GENERATION_BENCH_SMALL_ROWS ?? 2_000);
const SMALL_CONCURRENCY = 16;

export default async function generationBench(): Promise<BenchRow[]> {
  const fake = await spawnFakeLlm({ latencyMs: LATENCY_MS, jitterMs: JITTER_MS, seed: 'bench' });
  const bench = await openGenerationBench({
    fakeUrl: fake.url,
    maxConcurrency: CONCURRENCY,
    generation: {
      concurrency: CONCURRENCY,
      ...(process.env.GENERATION_BENCH_COMMIT_MS
        ? { commitMs: Number(process.env.GENERATION_BENCH_COMMIT_MS) }
        : {}),
    },
  });
  const rows: BenchRow[] = [];
  const ideal = (n: number) => (n * LATENCY_MS) / CONCURRENCY;
  const ratioRow = (name: string, n: number, elapsedMs: number, goal?: number): BenchRow => {
    const achieved = (n * 1000) / elapsedMs;
    const limit = (CONCURRENCY * 1000) / LATENCY_MS;
    const ratio = round(ideal(n) / elapsedMs, 3);
    return {
      name,
      value: round(achieved, 1),
      unit: 'cells/s',
      against: { label: 'N·L̄/C limit cells/s', value: round(limit, 1) },
      ratio,
      ...(goal === undefined ? {} : { goal: `ratio ≥ ${goal}`, pass: ratio >= goal }),
    };
  };

  try {
    const { app, platform, sheets } = bench;
    // A real user with an API key, so an SSE client can listen like a browser would.
    const user = await insertUser(platform.database.db, {
      id: uuidv7(),
      email: `bench-${uuidv7()}@example.test`,
      display_name: 'Bench',
      password_hash: 'x',
      is_admin: false,
      now: new Date(),
    });
    const actor: Actor = {
      userId: user.id,
      isAdmin: false,
      via: 'session',
      scopes: ['read', 'write', 'admin'],
      credentialId: undefined,
    };
    const project = await app.services.projects.createProject(actor, {
      name: 'Bench',
      description: '',
    });
    const { key } = await app.services.apiKeys.create(actor, {
      name: 'bench',
      scopes: ['read', 'write'],
    });
    const provider = await app.llm.admin.createProvider(actor, project.id, {
      name: 'fake',
      kind: 'openai',
      baseUrl: `${fake.url}/v1`,
      apiKey: 'sk-bench',
      maxConcurrency: CONCURRENCY,
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const address = app.server.address() as { port: number };
    const baseUrl = `http://127.0.0.1:${address.port}`;

    const dataset = async (n: number, label: string) => {
      const created = await sheets.createDataset(actor, project.id, {
        name: label,
        columns: [{ name: 'Item' }],
      });
      const itemId = created.columns[0]!.id;
      for (let start = 0; start < n; start += 10_000) {
        const count = Math.min(10_000, n - start);
        await sheets.appendRows(
          actor,
          project.id,
          created.id,
          Array.from({ length: count }, (_, index) => ({
            [itemId]: `${label} item ${start + index + 1}`,
          })),
        );
      }
      return created.id;
    };

    // Instrumented pieces shared by the runs: when each call ended, and time spent committing.
    const callEnded = new Map<string, number>();
    let commitMs = 0;
    let committedWrites = 0;
    const timedSheets = Object.create(sheets) as typeof sheets;
    timedSheets.openCellWriter = async (...args: Parameters<typeof sheets.openCellWriter>) => {
      const write = await sheets.openCellWriter(...args);
      return async (writes): Promise<CompareAndSetResult> => {
        const started = performance.now();
        try {
          return await write(writes);
        } finally {
          commitMs += performance.now() - started;
          committedWrites += writes.length;
        }
      };
    };
    const timedLlm = {
      stream: app.llm.llm.stream,
      flush: app.llm.llm.flush,
      probe: app.llm.llm.probe,
      invalidatePrices: app.llm.llm.invalidatePrices,
      concurrency: app.llm.llm.concurrency,
      async generate(request: LlmCallRequest): Promise<LlmCallResult> {
        const result = await app.llm.llm.generate(request);
        if (request.entityIds?.rowId)
          callEnded.set(
            `${request.entityIds.columnId}:${request.entityIds.rowId}`,
            performance.now(),
          );
        return result;
      },
    };
    const moduleWith = (options: { scheduler?: typeof slidingWindow; llm?: typeof timedLlm }) =>
      createGenerationModule({
        platform,
        access: app.services.access,
        audit: app.services.audit,
        sheets: timedSheets,
        llm: { llm: options.llm ?? timedLlm, admin: app.llm.admin },
        events: createInProcessEventBus(),
        useJobs: false,
        runnerOverrides: options.scheduler ? { scheduler: options.scheduler } : {},
      });

    const runColumn = async (
      module: ReturnType<typeof moduleWith>,
      datasetId: string,
      prompt: string,
    ) => {
      const created = await module.aiColumns.createAiColumn(actor, project.id, datasetId, {
        name: 'Out',
        prompt,
        provider: provider.id,
        model: 'gpt-4o-mini',
        run: false,
      });
      const run = await module.runs.createRunForCli(
        actor,
        project.id,
        datasetId,
        created.column.id,
        {
          mode: 'all',
          confirm: true,
        },
      );
      const started = performance.now();
      await module.runner.execute(run.id);
      const elapsed = performance.now() - started;
      const view = await module.runs.getRun(actor, project.id, datasetId, run.id);
      return { elapsed, view, columnId: created.column.id };
    };

    let ceiling = 0;
    // — 1. the LLM module alone, driven by the same sliding window: the ceiling here —
    {
      process.stderr.write(`generation bench: LLM module alone, ${ROWS} calls\n`);
      async function* items() {
        for (let index = 0; index < ROWS; index++) yield index;
      }
      const started = performance.now();
      await slidingWindow({
        items: items(),
        concurrency: () => CONCURRENCY,
        signal: new AbortController().signal,
        run: async (index) => {
          await app.llm.llm.generate({
            projectId: project.id,
            feature: 'sheet-cell',
            provider: provider.id,
            model: 'gpt-4o-mini',
            messages: [{ role: 'user', content: `ceiling item ${index}` }],
          });
        },
      });
      const elapsed = performance.now() - started;
      ceiling = (ROWS * 1000) / elapsed;
      rows.push(
        ratioRow(
          `LLM module alone, ${ROWS} calls, C=${CONCURRENCY} (ceiling on this machine)`,
          ROWS,
          elapsed,
        ),
      );
    }

    const sseClient = async (datasetId: string) => {
      const arrivals: number[] = [];
      const controller = new AbortController();
      const response = await fetch(
        `${baseUrl}/api/projects/${project.id}/datasets/${datasetId}/events`,
        {
          headers: { authorization: `Bearer ${key}`, accept: 'text/event-stream' },
          signal: controller.signal,
        },
      );
      const reading = (async () => {
        const decoder = new TextDecoder();
        let buffer = '';
        try {
          for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
            const now = performance.now();
            buffer += decoder.decode(chunk, { stream: true });
            let end = buffer.indexOf('\n\n');
            while (end >= 0) {
              const event = buffer.slice(0, end);
              buffer = buffer.slice(end + 2);
              end = buffer.indexOf('\n\n');
              if (!event.includes('event: cells-update')) continue;
              const data = JSON.parse(event.slice(event.indexOf('data: ') + 6)) as {
                columnId: string;
                cells: { rowId: string; status: string }[];
              };
              for (const cell of data.cells) {
                if (cell.status !== 'done') continue;
                const ended = callEnded.get(`${data.columnId}:${cell.rowId}`);
                if (ended !== undefined) arrivals.push(now - ended);
              }
            }
          }
        } catch {
          // aborted at the end
        }
      })();
      return {
        async stop() {
          await new Promise((resolve) => setTimeout(resolve, 300));
          controller.abort();
          await reading;
          return arrivals.sort((a, b) => a - b);
        },
      };
    };

    /** The engine on `n` rows at concurrency `c` with both schedulers; SSE latency on the sliding one. */
    const compare = async (n: number, c: number, goal: number | undefined) => {
      platform.config.generation.concurrency = c;
      const label = `C=${c}, ${n} cells, L=${LATENCY_MS}±${JITTER_MS} ms`;
      const idealFor = (cells: number) => (cells * LATENCY_MS) / c;
      const row = (name: string, cells: number, elapsed: number, withGoal: boolean): BenchRow => {
        const ratio = round(idealFor(cells) / elapsed, 3);
        return {
          name,
          value: round((cells * 1000) / elapsed, 1),
          unit: 'cells/s',
          against: { label: 'N·L̄/C limit cells/s', value: round((c * 1000) / LATENCY_MS, 1) },
          ratio,
          ...(withGoal && goal !== undefined
            ? { goal: `ratio ≥ ${goal}`, pass: ratio >= goal }
            : {}),
        };
      };
      process.stderr.write(`generation bench: sliding window, ${label}\n`);
      const sliding = moduleWith({});
      const slidingData = await dataset(n, `sliding-${c}`);
      const client = await sseClient(slidingData);
      commitMs = 0;
      committedWrites = 0;
      const a = await runColumn(sliding, slidingData, 'Write about {{Item}}');
      const slidingRow = row(`sliding window, ${label}`, a.view.progress.done, a.elapsed, true);
      rows.push(slidingRow);
      if (c === CONCURRENCY && ceiling > 0)
        rows.push({
          name: `sliding window ÷ LLM module alone (engine efficiency at C=${c})`,
          value: round(slidingRow.value / ceiling, 2),
          unit: '×',
        });
      rows.push({
        name: `commit overhead per generated cell, ${label}`,
        value: round(commitMs / Math.max(1, a.view.progress.done), 3),
        unit: 'ms',
        against: {
          label: 'cell writes per cell (mark + result)',
          value: round(committedWrites / Math.max(1, a.view.progress.done), 2),
        },
      });
      const arrivals = await client.stop();
      rows.push({
        name: `call end → cell event at an SSE client p50, ${label} (${arrivals.length} cells)`,
        value: round(percentile(arrivals, 50), 1),
        unit: 'ms',
        goal: '≤ 100 ms',
        pass: percentile(arrivals, 50) <= 100,
      });
      rows.push({
        name: `call end → cell event at an SSE client p99, ${label}`,
        value: round(percentile(arrivals, 99), 1),
        unit: 'ms',
      });
      await sliding.close();

      process.stderr.write(`generation bench: batch barrier, ${label}\n`);
      const barrier = moduleWith({ scheduler: batchBarrier });
      const barrierData = await dataset(n, `barrier-${c}`);
      const b = await runColumn(barrier, barrierData, 'Describe {{Item}}');
      const barrierRow = row(
        `batch barrier (seed system), ${label}`,
        b.view.progress.done,
        b.elapsed,
        false,
      );
      rows.push(barrierRow);
      rows.push({
        name: `sliding window ÷ batch barrier throughput, ${label}`,
        value: round(slidingRow.value / barrierRow.value, 2),
        unit: '×',
      });
      await barrier.close();
    };

    // — 2, 3. the engine, sliding window vs batch barrier: the settings, then a
    // concurrency this machine can feed (the difference between schedulers shows there) —
    if (!process.env.GENERATION_BENCH_ONLY_SMALL) await compare(ROWS, CONCURRENCY, 0.9);
    await compare(SMALL_ROWS, SMALL_CONCURRENCY, 0.9);

    // — 4. memory: 100,000 cells through the engine, the model answering at once —
    {
      process.stderr.write(`generation bench: ${RSS_CELLS} cells for RSS\n`);
      const instant = {
        ...timedLlm,
        async generate(request: LlmCallRequest): Promise<LlmCallResult> {
          await new Promise((resolve) => setImmediate(resolve));
          const text = `answer for ${request.entityIds?.rowId}`;
          return {
            callId: uuidv7(),
            text,
            output: undefined,
            toolCalls: [],
            finishReason: 'stop',
            provider: provider.id,
            providerKind: 'openai',
            model: request.model,
            usage: {
              uncachedInputTokens: 20,
              cacheReadTokens: 0,
              cacheWriteTokens: 0,
              outputTokens: 5,
              reasoningTokens: 0,
            },
            costNano: 6_000,
            attempts: 1,
            cacheHit: false,
            savedNano: null,
            latencyMs: 1,
            timeToFirstTokenMs: 1,
            requestId: undefined,
            warnings: [],
          };
        },
      };
      platform.config.generation.concurrency = CONCURRENCY;
      const module = moduleWith({ llm: instant as never });
      const datasetId = await dataset(RSS_CELLS, 'rss');
      global.gc?.();
      const before = process.memoryUsage().rss;
      let peak = before;
      const sampler = setInterval(() => {
        peak = Math.max(peak, process.memoryUsage().rss);
      }, 250);
      const { elapsed, view } = await runColumn(module, datasetId, 'Summarise {{Item}}');
      clearInterval(sampler);
      global.gc?.();
      const after = process.memoryUsage().rss;
      rows.push({
        name: `RSS after ${view.progress.done} generated cells (engine only: model answers at once)`,
        value: round(after / 1024 / 1024, 0),
        unit: 'MiB',
        against: { label: 'RSS before the run MiB', value: round(before / 1024 / 1024, 0) },
        ratio: round(after / before, 2),
      });
      rows.push({
        name: 'peak RSS during those cells',
        value: round(peak / 1024 / 1024, 0),
        unit: 'MiB',
      });
      rows.push({
        name: 'engine throughput without model latency',
        value: round((view.progress.done * 1000) / elapsed, 0),
        unit: 'cells/s',
      });
      await module.close();
    }
    return rows;
  } finally {
    await bench.close();
    await fake.close();
  }
}
