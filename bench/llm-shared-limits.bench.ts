// Shared LLM limits (issue 20, item 4): what the Redis-backed limiter and breaker add to a call
// against the in-process ones, on the same fake provider in the same run; and the fill ratio of
// three LLM modules ("servers", each with its own Redis connections) sharing one provider cap
// of 64 at 200 ± 100 ms per call, against the ideal N·L̄/C.
// `npm run bench -- llm-shared-limits`; BENCH_SHARED_CALLS (default 3,000 calls for the fill,
// 10,000 in the figure), BENCH_SHARED_OVERHEAD_CALLS (default 2,000), REDIS_URL.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { createLlmModule, type LlmModule } from '../src/llm/llm-module.ts';
import type { SharedLimitsOptions } from '../src/llm/llm-shared-redis.ts';
import { loadConfig } from '../src/platform/config.ts';
import { createSecretBox } from '../src/platform/crypto.ts';
import { type Database, openDatabase } from '../src/platform/db/database.ts';
import { migrateToLatest } from '../src/platform/db/migrator.ts';
import { uuidv7 } from '../src/platform/ids.ts';
import { createLogger } from '../src/platform/logger.ts';
import { startFakeLlm } from '../tools/fake-llm/fake-llm-server.ts';
import { type BenchRow, percentile, round } from './bench-types.ts';
import { actor, allow, drain } from './llm-router.bench.ts';

const KEY = 'sk-bench-shared-key';
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const FILL_CALLS = Number(process.env.BENCH_SHARED_CALLS ?? 3_000);
const OVERHEAD_CALLS = Number(process.env.BENCH_SHARED_OVERHEAD_CALLS ?? 2_000);
const CAP = 64;
const SERVERS = 3;
const MEAN_LATENCY_MS = 200;

const secrets = createSecretBox([randomBytes(32)]);

function openModule(database: Database, sharedLimits?: SharedLimitsOptions): LlmModule {
  return createLlmModule({
    config: { ...loadConfig({}, {}).llm, maxConcurrency: CAP },
    database,
    logger: createLogger({ level: 'silent', format: 'json' }),
    access: allow,
    secrets,
    sharedLimits,
  });
}

export default async function llmSharedLimitsBench(): Promise<BenchRow[]> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bc-bench-shared-'));
  const fake = await startFakeLlm({ apiKey: KEY, record: false });
  const database = await openDatabase({ kind: 'pglite', dataDir: path.join(dir, 'pg') });
  await migrateToLatest(database.db);
  const projectId = uuidv7();
  await sql`insert into project (id, name) values (${projectId}, 'bench')`.execute(database.db);
  const shared: SharedLimitsOptions = {
    redisUrl: REDIS_URL,
    keyPrefix: `bench:llm:${uuidv7()}`,
  };
  const local = openModule(database);
  const servers = Array.from({ length: SERVERS }, () => openModule(database, shared));
  const rows: BenchRow[] = [];
  try {
    const provider = await local.admin.createProvider(actor, projectId, {
      name: 'fake',
      kind: 'openai',
      baseUrl: `${fake.url}/v1`,
      apiKey: KEY,
      maxConcurrency: CAP,
    });
    const request = (prompt: string, model = 'gpt-4o-mini') => ({
      projectId,
      feature: 'bench',
      provider: provider.id,
      model,
      messages: [{ role: 'user' as const, content: prompt }],
      parameters: { maxOutputTokens: 32 },
      cache: 'off' as const,
    });

    // 1. Per-call cost: the same call through the in-process and the shared limiter, alternated
    // so drift hits both alike; the difference is what Redis adds (slot, release, breaker).
    const sharedModule = servers[0] as LlmModule;
    for (let i = 0; i < 200; i++) {
      await drain(local.llm.stream(request(`warm ${i}`)));
      await drain(sharedModule.llm.stream(request(`warm ${i}`)));
    }
    const localMs: number[] = [];
    const sharedMs: number[] = [];
    for (let i = 0; i < OVERHEAD_CALLS; i++) {
      let started = performance.now();
      await drain(local.llm.stream(request(`row ${i}`)));
      localMs.push(performance.now() - started);
      started = performance.now();
      await drain(sharedModule.llm.stream(request(`row ${i}`)));
      sharedMs.push(performance.now() - started);
    }
    localMs.sort((a, b) => a - b);
    sharedMs.sort((a, b) => a - b);
    const addedP50 = round(percentile(sharedMs, 50) - percentile(localMs, 50), 3);
    const addedP99 = round(percentile(sharedMs, 99) - percentile(localMs, 99), 3);
    rows.push(
      {
        name: 'llm call, in-process limits, p50',
        value: round(percentile(localMs, 50), 3),
        unit: 'ms',
      },
      {
        name: 'llm call, shared limits (Redis), p50',
        value: round(percentile(sharedMs, 50), 3),
        unit: 'ms',
      },
      {
        name: 'shared limits added per call p50',
        value: addedP50,
        unit: 'ms',
        against: { label: 'goal', value: 1 },
        ratio: round(addedP50 / 1, 2),
        goal: '< 1 ms',
        pass: addedP50 < 1,
      },
      { name: 'shared limits added per call p99', value: addedP99, unit: 'ms' },
    );

    // 2. Fill: N calls on one in-process server (the peer), then spread over three servers
    // sharing cap 64 through Redis; 200 ± 100 ms each.
    const model = `gpt-4o-mini@latency=${MEAN_LATENCY_MS},jitter=100,seed=fill`;
    const ideal = (FILL_CALLS * MEAN_LATENCY_MS) / CAP;
    const fillOf = async (modules: LlmModule[], tag: string) => {
      fake.reset();
      const started = performance.now();
      await Promise.all(
        Array.from({ length: FILL_CALLS }, (_, i) =>
          (modules[i % modules.length] as LlmModule).llm.generate(
            request(`fill ${tag} ${i}`, model),
          ),
        ),
      );
      return round(ideal / (performance.now() - started), 3);
    };
    const single = await fillOf([local], 'local');
    const fill = await fillOf(servers, 'shared');
    const peak = fake.stats().maxInFlight;
    const fillRow = (servers: string, value: number): BenchRow => ({
      name: `fill, ${servers}, ${FILL_CALLS} calls 200±100 ms`,
      value,
      unit: 'of N·L̄/C',
      against: { label: 'goal', value: 0.9 },
      ratio: round(value / 0.9, 2),
      goal: '≥ 0.9',
      pass: value >= 0.9,
    });
    rows.push(
      fillRow(`1 server in-process cap ${CAP}`, single),
      fillRow(`${SERVERS} servers sharing cap ${CAP}`, fill),
      {
        name: `most requests at the provider at once (cap ${CAP})`,
        value: peak,
        unit: 'requests',
        against: { label: 'cap', value: CAP },
        ratio: round(peak / CAP, 2),
        goal: `≤ ${CAP}`,
        pass: peak <= CAP,
      },
    );
  } finally {
    for (const server of servers) await server.close();
    await local.close();
    await fake.close();
    await database.close();
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}
