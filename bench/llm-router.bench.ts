// LLM router figures (issue 4): the router's added latency per call against a direct AI SDK
// call to the same fake server at zero latency; 10,000 calls at 256 in flight (completion,
// throughput, RSS growth); and cache-hit latency (in-memory LRU and PostgreSQL).
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import { createOpenAI } from '@ai-sdk/openai';
import { streamText } from 'ai';
import { sql } from 'kysely';
import type { Actor } from '../src/access/actor.ts';
import type { ProjectAccess } from '../src/access/project-access.ts';
import { createLlmModule, type LlmModule } from '../src/llm/llm-module.ts';
import type { LlmProvider } from '../src/llm/llm-provider.ts';
import type { AppError } from '../src/platform/app-error.ts';
import { loadConfig } from '../src/platform/config.ts';
import { createSecretBox } from '../src/platform/crypto.ts';
import { type Database, openDatabase } from '../src/platform/db/database.ts';
import { migrateToLatest } from '../src/platform/db/migrator.ts';
import { uuidv7 } from '../src/platform/ids.ts';
import { createLogger } from '../src/platform/logger.ts';
import { type BenchRow, percentile, round } from './bench-types.ts';
import { spawnFakeLlm } from './llm-fake-child.ts';

const KEY = 'sk-bench-key';
const OVERHEAD_CALLS = Number(process.env.BENCH_LLM_CALLS ?? 3_000);
const LOAD_CALLS = Number(process.env.BENCH_LLM_LOAD_CALLS ?? 10_000);
const IN_FLIGHT = 256;

export const allow: ProjectAccess = { requireRole: async () => 'owner' };
export const actor: Actor = {
  userId: uuidv7(),
  isAdmin: true,
  via: 'system',
  scopes: ['read', 'write', 'admin'],
  credentialId: undefined,
};

function rssMiB(): number {
  return round(process.memoryUsage().rss / 1024 / 1024, 1);
}

// A full GC before reading the heap, without needing `node --expose-gc`.
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

function heapMiB(): number {
  gc();
  return round(process.memoryUsage().heapUsed / 1024 / 1024, 1);
}

function stats(samples: number[]) {
  const sorted = [...samples].sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99) };
}

export async function drain(stream: AsyncIterable<unknown>): Promise<void> {
  for await (const _ of stream) {
    // consume
  }
}

/** A provider that answers from memory: measures our own code, without network or SDK. */
const memoryProvider: LlmProvider = {
  kind: 'openai',
  async *stream() {
    for (const word of 'echo: summarise | amber basil cedar delta ember fjord garnet harbor'.split(
      /(?= )/,
    )) {
      yield { type: 'text-delta', text: word };
    }
    yield {
      type: 'finish',
      usage: {
        uncachedInputTokens: 8,
        cacheReadTokens: 0,
        cacheWriteTokens: undefined,
        outputTokens: 11,
        reasoningTokens: 0,
      },
      finishReason: 'stop',
      requestId: 'req_memory',
      responseModel: 'gpt-4o-mini',
      output: undefined,
      warnings: [],
      rawUsage: undefined,
    };
  },
  generate: async () => {
    throw new Error('not used');
  },
  listModels: async () => undefined,
};

const secrets = createSecretBox([randomBytes(32)]);

async function openModule(
  database: Database,
  cacheMemoryEntries: number,
  providerFactory?: () => LlmProvider,
): Promise<LlmModule> {
  return createLlmModule({
    ...(providerFactory ? { providerFactory } : {}),
    config: { ...loadConfig({}, {}).llm, cacheMemoryEntries, maxConcurrency: IN_FLIGHT },
    database,
    logger: createLogger({ level: 'silent', format: 'json' }),
    access: allow,
    secrets,
  });
}

export default async function llmRouterBench(): Promise<BenchRow[]> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bc-bench-llm-'));
  // The fake provider runs in its own process, as a remote provider would.
  const fake = await spawnFakeLlm(KEY);
  const database = await openDatabase({ kind: 'pglite', dataDir: path.join(dir, 'pg') });
  await migrateToLatest(database.db);
  const projectId = uuidv7();
  await sql`insert into project (id, name) values (${projectId}, 'bench')`.execute(database.db);
  const module = await openModule(database, 2_000);
  const rows: BenchRow[] = [];
  try {
    const provider = await module.admin.createProvider(actor, projectId, {
      name: 'fake',
      kind: 'openai',
      baseUrl: `${fake.url}/v1`,
      apiKey: KEY,
      maxConcurrency: IN_FLIGHT,
    });
    const direct = createOpenAI({ baseURL: `${fake.url}/v1`, apiKey: KEY })('gpt-4o-mini');
    const request = (prompt: string, cache: 'use' | 'off' = 'off') => ({
      projectId,
      feature: 'bench',
      provider: provider.id,
      model: 'gpt-4o-mini',
      messages: [{ role: 'user' as const, content: prompt }],
      parameters: { maxOutputTokens: 64 },
      cache,
    });
    const viaDirect = (prompt: string) =>
      drain(
        streamText({
          model: direct,
          prompt,
          maxRetries: 0,
          maxOutputTokens: 64,
          onError: () => {},
        }).fullStream,
      );
    const viaRouter = (prompt: string) => drain(module.llm.stream(request(prompt)));

    // Warm both paths (JIT, connections, tokenizer-free path).
    for (let i = 0; i < 300; i++) {
      await viaDirect(`warm ${i}`);
      await viaRouter(`warm ${i}`);
    }
    await module.llm.flush();

    // 1. Overhead: alternate direct and routed calls so drift hits both alike.
    const directMs: number[] = [];
    const routerMs: number[] = [];
    for (let i = 0; i < OVERHEAD_CALLS; i++) {
      const prompt = `Summarise row ${i} of the benchmark dataset`;
      let started = performance.now();
      await viaDirect(prompt);
      directMs.push(performance.now() - started);
      started = performance.now();
      await viaRouter(prompt);
      routerMs.push(performance.now() - started);
    }
    await module.llm.flush();
    const d = stats(directMs);
    const r = stats(routerMs);
    const addedP50 = round(r.p50 - d.p50, 3);
    const addedP99 = round(r.p99 - d.p99, 3);
    rows.push(
      {
        name: 'llm direct AI SDK stream p50 (fake, 0 ms latency)',
        value: round(d.p50, 3),
        unit: 'ms',
      },
      { name: 'llm routed stream p50', value: round(r.p50, 3), unit: 'ms' },
      {
        name: 'llm router overhead p50 (added per call)',
        value: addedP50,
        unit: 'ms',
        against: { label: 'goal', value: 0.5 },
        ratio: round(addedP50 / 0.5, 2),
        goal: '< 0.5 ms',
        pass: addedP50 < 0.5,
      },
      { name: 'llm router overhead p99 (added per call)', value: addedP99, unit: 'ms' },
    );

    // 1b. Our own code alone: the same routed call against an in-memory provider, against
    // reading that provider directly (no network, no SDK: nothing else in the figure).
    const inMemory = await openModule(database, 0, () => memoryProvider);
    const memoryTarget = await inMemory.admin.createProvider(actor, projectId, {
      name: 'memory',
      kind: 'openai',
      baseUrl: 'http://127.0.0.1:9/v1',
      apiKey: KEY,
    });
    const ownMs: number[] = [];
    const bareMs: number[] = [];
    for (let i = 0; i < OVERHEAD_CALLS + 500; i++) {
      let t = performance.now();
      await drain(memoryProvider.stream({} as never));
      const bare = performance.now() - t;
      t = performance.now();
      await drain(inMemory.llm.stream({ ...request(`Own cost ${i}`), provider: memoryTarget.id }));
      const own = performance.now() - t;
      if (i >= 500) {
        bareMs.push(bare);
        ownMs.push(own);
      }
    }
    await inMemory.close();
    const own = stats(ownMs);
    const bare = stats(bareMs);
    rows.push(
      {
        name: 'llm router + service cost per call, in-memory provider, p50',
        value: round(own.p50 - bare.p50, 3),
        unit: 'ms',
      },
      {
        name: 'llm router + service cost per call, in-memory provider, p99',
        value: round(own.p99 - bare.p99, 3),
        unit: 'ms',
      },
    );

    // 2. 10,000 calls, 256 in flight.
    const heapBefore = heapMiB();
    const rssBefore = rssMiB();
    let next = 0;
    let completed = 0;
    let failed = 0;
    const failures = new Map<string, number>();
    const started = performance.now();
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async () => {
        while (next < LOAD_CALLS) {
          const index = next++;
          try {
            await drain(module.llm.stream(request(`Load ${index}: classify this row`)));
            completed += 1;
          } catch (error) {
            failed += 1;
            const reason = (error as AppError).details?.reason ?? (error as Error).message;
            failures.set(String(reason), (failures.get(String(reason)) ?? 0) + 1);
          }
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    await module.llm.flush();
    const heapAfter = heapMiB();
    const rssAfter = rssMiB();
    const attemptFailures = await sql<{ kind: string; count: number }>`
      select coalesce(failure_kind, status) as kind, count(*)::int as count from llm_calls
      where project_id = ${projectId} and feature = 'bench' and status not in ('ok', 'cache-hit')
      group by 1 order by 2 desc`.execute(database.db);
    const written = await sql<{ count: number }>`
      select count(*)::int as count from llm_calls where project_id = ${projectId} and feature = 'bench'`.execute(
      database.db,
    );
    rows.push(
      {
        name: `llm ${LOAD_CALLS} calls @${IN_FLIGHT} in flight: completed`,
        value: completed,
        unit: 'calls',
        against: { label: 'of', value: LOAD_CALLS },
        goal: 'all',
        pass: completed === LOAD_CALLS && failed === 0,
      },
      ...attemptFailures.rows.map((row) => ({
        name: `llm usage rows (all runs): attempts that failed with ${row.kind} (retried when retryable)`,
        value: row.count,
        unit: 'attempts',
      })),
      ...[...failures].map(([reason, count]) => ({
        name: `llm ${LOAD_CALLS} calls @${IN_FLIGHT}: failed with ${reason}`,
        value: count,
        unit: 'calls',
      })),
      {
        name: `llm ${LOAD_CALLS} calls @${IN_FLIGHT}: wall time`,
        value: round(seconds, 2),
        unit: 's',
      },
      {
        name: `llm ${LOAD_CALLS} calls @${IN_FLIGHT}: throughput`,
        value: round(LOAD_CALLS / seconds, 0),
        unit: 'calls/s',
      },
      {
        name: `llm ${LOAD_CALLS} calls @${IN_FLIGHT}: RSS growth (high-water mark, PGlite included)`,
        value: round(rssAfter - rssBefore, 1),
        unit: 'MiB',
      },
      {
        name: `llm ${LOAD_CALLS} calls @${IN_FLIGHT}: JS heap growth after GC`,
        value: round(heapAfter - heapBefore, 1),
        unit: 'MiB',
      },
      {
        name: 'llm usage rows written (all runs, one per attempt)',
        value: Number(written.rows[0]?.count),
        unit: 'rows',
      },
    );

    // 3. Cache hits: from the in-memory LRU, and from PostgreSQL (a module with no LRU).
    const cached = request('A prompt whose answer is cached', 'use');
    await drain(module.llm.stream(cached));
    const memoryMs: number[] = [];
    for (let i = 0; i < 2_000; i++) {
      const t = performance.now();
      await drain(module.llm.stream(cached));
      memoryMs.push(performance.now() - t);
    }
    await module.llm.flush(); // the entry is in PostgreSQL now
    const cold = await openModule(database, 0);
    const databaseMs: number[] = [];
    for (let i = 0; i < 500; i++) {
      const t = performance.now();
      await drain(cold.llm.stream(cached));
      databaseMs.push(performance.now() - t);
    }
    await cold.close();
    const m = stats(memoryMs);
    const p = stats(databaseMs);
    rows.push(
      { name: 'llm cache hit p50 (memory LRU)', value: round(m.p50, 3), unit: 'ms' },
      { name: 'llm cache hit p99 (memory LRU)', value: round(m.p99, 3), unit: 'ms' },
      { name: 'llm cache hit p50 (PostgreSQL/PGlite)', value: round(p.p50, 3), unit: 'ms' },
      { name: 'llm cache hit p99 (PostgreSQL/PGlite)', value: round(p.p99, 3), unit: 'ms' },
    );
    return rows;
  } finally {
    await module.close();
    await fake.close();
    await database.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
