import { setImmediate } from 'node:timers/promises';
import { beforeAll, beforeEach } from 'vitest';
import { seedDataDir } from '../../../test/crash-server.ts';
import { type FakeLlmApp, openFakeLlmApp } from '../../../test/fake-llm-app.ts';
import { perSuite } from '../../../test/per-suite.ts';
import type { Backend, TestApp } from '../../../test/test-platform.ts';
import type { FaultOptions } from '../../../tools/fake-llm/fake-llm-faults.ts';
import type { FeatureOptions } from '../../features.ts';
import type { Clock } from '../../llm/llm-clock.ts';
import {
  type Config,
  type GenerationConfig,
  type LlmConfig,
  loadConfig,
} from '../../platform/config.ts';
import type { CellValue } from '../sheet-schema.ts';
import type { SheetsModule } from '../sheets-module.ts';
import type { RunView } from './generation-presenter.ts';

export const FAKE_KEY = 'sk-test-generation-fake-key-1a2b3c4d';

export interface GenerationTestEnv extends FakeLlmApp {
  /** A new provider on the fake server (64 calls at once unless given). */
  newProvider(maxConcurrency?: number): Promise<string>;
  /** A dataset with one text column per name, filled with `rows`. */
  dataset(
    name: string,
    columns: string[],
    rows: Record<string, CellValue>[],
  ): Promise<{
    id: string;
    columns: Record<string, string>;
    rowIds: string[];
  }>;
  waitForRun(
    datasetId: string,
    runId: string,
    statuses?: string[],
    timeoutMs?: number,
  ): Promise<RunView>;
  /** The status of each of the column's cells, in row order. */
  statuses(datasetId: string, columnId: string): Promise<string[]>;
  cells(
    datasetId: string,
    columnId: string,
  ): Promise<
    {
      rowId: string;
      value: CellValue;
      status: string;
      version: number;
      validated: boolean;
      error: string | null;
      raw: string | null;
      promptHash: string | null;
      sources: unknown;
      model: string | null;
      attempts: number | null;
      costNanoUsd: number | null;
      inputTokens: number | null;
      outputTokens: number | null;
      latencyMs: number | null;
      inputHash: string | null;
    }[]
  >;
}

/**
 * The whole app on fresh storage with job workers, the fake LLM server as an OpenAI provider
 * of a project with one member per role. Everything the tests do goes through services.
 */
export async function openGenerationTestEnv(
  options: {
    generation?: Partial<GenerationConfig>;
    llm?: Partial<LlmConfig>;
    config?: Partial<Config>;
    fakeDefaults?: Partial<FaultOptions>;
    maxConcurrency?: number;
    backend?: Backend;
    features?: FeatureOptions;
  } = {},
): Promise<GenerationTestEnv> {
  const opened = await openFakeLlmApp({
    apiKey: FAKE_KEY,
    backend: options.backend,
    maxConcurrency: options.maxConcurrency ?? 64,
    llm: options.llm,
    fakeDefaults: options.fakeDefaults,
    features: options.features,
    config: {
      generation: { ...loadConfig({}, {}).generation, commitMs: 10, ...options.generation },
      ...options.config,
    },
  });
  const { t, members, projectId } = opened;
  const sheets = sheetsOf(t);
  const actor = members.owner.actor;
  const cells: GenerationTestEnv['cells'] = async (datasetId, columnId) => {
    const window = await sheets.readWindow(actor, projectId, datasetId, {
      limit: 1_000,
      columns: [columnId],
    });
    return window.rows.map((row) => ({
      rowId: row.rowId,
      ...(row.cells[columnId] as never as object),
    })) as never;
  };
  return {
    ...opened,
    newProvider: (maxConcurrency = 64) =>
      opened.newProvider(maxConcurrency, `fake ${Math.random().toString(36).slice(2)}`),
    async dataset(name, columns, rows) {
      const created = await sheets.createDataset(actor, projectId, {
        name,
        columns: columns.map((column) => ({ name: column })),
      });
      const ids = Object.fromEntries(created.columns.map((column) => [column.name, column.id]));
      const appended = await sheets.appendRows(
        actor,
        projectId,
        created.id,
        rows.map((row) =>
          Object.fromEntries(Object.entries(row).map(([key, value]) => [ids[key]!, value])),
        ),
      );
      return { id: created.id, columns: ids, rowIds: appended.rowIds };
    },
    async waitForRun(
      datasetId,
      runId,
      statuses = ['completed', 'failed', 'cancelled', 'paused'],
      // A liveness bound, not a speed limit: runs that wait out 429s take longer on a loaded
      // machine (a storm run did not finish within 20 s once in CI, in 3.5 s alone).
      timeoutMs = 120_000,
    ) {
      const deadline = Date.now() + timeoutMs;
      while (true) {
        const run = await t.app.generation.runs.getRun(actor, projectId, datasetId, runId);
        if (statuses.includes(run.status)) return run;
        if (Date.now() > deadline)
          throw new Error(`run ${runId} is still ${run.status} (${JSON.stringify(run.progress)})`);
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    },
    cells,
    statuses: async (datasetId, columnId) =>
      (await cells(datasetId, columnId)).map((cell) => cell.status),
  };
}

/** The app's sheets module (decorated by buildApp). */
export function sheetsOf(t: TestApp): SheetsModule['sheets'] {
  return (t.app as unknown as { sheets: SheetsModule }).sheets.sheets;
}

/**
 * A data dir for a spawned process (server or CLI): a user with an API key, a project, a
 * provider on the fake server and a dataset of `rows` rows with an AI column `Out` over
 * `Item` — its first run queued (`run: true`) or none. Nothing of this process stays open.
 */
export function prepareDataDir(
  dataDir: string,
  fakeUrl: string,
  options: { rows: number; model?: string; run?: boolean },
) {
  return seedDataDir(
    dataDir,
    { fakeUrl, providerKey: FAKE_KEY, projectName: 'Spawned', startJobs: true, maxConcurrency: 16 },
    async ({ app, actor, projectId, providerId }) => {
      const sheets = (app as unknown as { sheets: SheetsModule }).sheets.sheets;
      const dataset = await sheets.createDataset(actor, projectId, {
        name: 'Spawned',
        columns: [{ name: 'Item' }],
      });
      const itemId = dataset.columns[0]!.id;
      await sheets.appendRows(
        actor,
        projectId,
        dataset.id,
        Array.from({ length: options.rows }, (_, index) => ({ [itemId]: `item ${index + 1}` })),
      );
      // Queued only: this process runs no job workers.
      const created = await app.generation.aiColumns.createAiColumn(actor, projectId, dataset.id, {
        name: 'Out',
        prompt: 'Write about {{Item}}',
        provider: providerId,
        model: options.model ?? 'gpt-4o-mini',
        run: options.run ?? true,
      });
      return { datasetId: dataset.id, columnId: created.column.id, runId: created.run?.id };
    },
  );
}

/**
 * A test file's (or `describe`'s) generation env, opened before its tests and closed after them
 * (a stand-in that reads the open env, test/per-suite.ts); the fake LLM is reset before each
 * test unless `resetFake` is false.
 */
export function generationEnvPerSuite(
  options: Parameters<typeof openGenerationTestEnv>[0] & { resetFake?: boolean } = {},
): GenerationTestEnv {
  const { resetFake = true, ...open } = options;
  const env = perSuite(
    () => openGenerationTestEnv(open),
    (opened) => opened.close(),
  );
  if (resetFake) beforeEach(() => env.fake.reset());
  return env;
}

/** `generationEnvPerSuite`, handing the env to `use` once it is open (before the tests). */
export function openGenerationTestEnvForFile(
  use: (env: GenerationTestEnv) => void | Promise<void>,
  options: Parameters<typeof generationEnvPerSuite>[0] = {},
): void {
  const env = generationEnvPerSuite(options);
  beforeAll(() => use(env));
}

/** The most calls the fake server held at once (from its request log). */
export function peakOverlap(
  requests: readonly { receivedAt: number; endedAt: number | undefined }[],
) {
  const edges = requests.flatMap((request) => [
    { at: request.receivedAt, step: 1 },
    { at: request.endedAt ?? Number.POSITIVE_INFINITY, step: -1 },
  ]);
  // At one instant an end counts before a start: a freed slot taken again is not an overlap.
  edges.sort((a, b) => a.at - b.at || a.step - b.step);
  let open = 0;
  let peak = 0;
  for (const edge of edges) {
    open += edge.step;
    peak = Math.max(peak, open);
  }
  return peak;
}

/**
 * The LLM clock of a test that rides out 429 storms (features.llm.clock): a retry's backoff and
 * a limiter's Retry-After are skipped instead of slept — `now` is the wall clock plus every wait
 * skipped so far, so deadlines and Retry-After pauses still pass in order. A storm of hundreds
 * of refusals otherwise sleeps hundreds of short real timers one after another, and on a loaded
 * machine each wake-up waits for a core (2.8 s alone, 12.6 s in CI, once over 30 s).
 */
export class SkippingClock implements Clock {
  skippedMs = 0;

  now(): number {
    return Date.now() + this.skippedMs;
  }

  async sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) throw signal.reason;
    this.skippedMs += Math.max(0, ms);
    // A turn of the event loop, as a real wait gives: the I/O meanwhile (answers, commits) is
    // served, and a loop of skipped waits cannot starve it.
    await setImmediate();
    // As a real wait, one aborted meanwhile rejects: the caller must not go on to its next try.
    if (signal?.aborted) throw signal.reason;
  }

  random(): number {
    return Math.random();
  }
}
