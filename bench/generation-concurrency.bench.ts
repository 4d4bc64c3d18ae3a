// AI columns (issue 14, item 5): the concurrency a person sets is the one a run gets.
//
//   npm run bench -- generation-concurrency
//
// 1. A connection made with the defaults (no maxConcurrency given) and the default
//    BRAINCELLS_GENERATION_CONCURRENCY: a 1,000-row column at 200 ms, against N·L/C for the
//    window the run reports (C = min(server ceiling, connection cap)).
// 2. A connection at cap 10, warmed by a run, then raised to 64 through the API: the next
//    1,000-row run against N·L/64 (before the fix the limiter kept 10 and grew a step a round).
// The fake LLM runs in its own process at 200 ms (no jitter).

import { loadConfig } from '../src/platform/config.ts';
import { type BenchRow, round } from './bench-types.ts';
import { openGenerationBench, spawnFakeLlm } from './generation-bench-helpers.ts';

const ROWS = Number(process.env.GENERATION_CONCURRENCY_BENCH_ROWS ?? 1_000);
const LATENCY_MS = 200;

export default async function generationConcurrencyBench(): Promise<BenchRow[]> {
  const fake = await spawnFakeLlm({ latencyMs: LATENCY_MS, jitterMs: 0 });
  const defaults = loadConfig({}, {});
  // The bench's own connection is not used; the runs below make theirs through the API.
  const bench = await openGenerationBench({ fakeUrl: fake.url, maxConcurrency: 1 });
  const rows: BenchRow[] = [];
  try {
    const { app, actor, projectId } = bench;
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
