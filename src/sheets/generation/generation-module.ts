import { randomUUID } from 'node:crypto';
import type { AuditRecorder } from '../../access/audit-recorder.ts';
import type { ProjectAccess } from '../../access/project-access.ts';
import type { LlmModule } from '../../llm/llm-module.ts';
import { loadTokenCounter } from '../../llm/llm-tokens.ts';
import type { EventBus } from '../../platform/events.ts';
import { createDurableRuns, type DurableRuns } from '../../platform/jobs/durable-run.ts';
import type { Platform } from '../../platform/platform.ts';
import { createImageGeneration } from '../images/image-generation.ts';
import type { ImageService } from '../images/image-service.ts';
import { createPreparedImages, withImageInputs } from '../images/image-vision.ts';
import type { SheetService } from '../sheet-service.ts';
import { createAiColumnUseCases } from './generation-ai-columns.ts';
import { createEstimates } from './generation-estimates.ts';
import { createGenerationExtension } from './generation-extension.ts';
import { defineGenerationRuns, runKindOf } from './generation-job.ts';
import { createLoaders } from './generation-loaders.ts';
import {
  type ActiveRuns,
  createRunner,
  HEARTBEAT_MS,
  LEASE_MS,
  type RunnerDeps,
  type StopReason,
} from './generation-runner.ts';
import { createRunUseCases } from './generation-runs.ts';
import { createStalenessTracker } from './generation-staleness.ts';
import { createGenerationStore, type RunRow } from './generation-store.ts';
import { createRowsGeneration } from './rows-run/generate-rows.ts';
import type { RunControl } from './run-shared.ts';
import {
  createSearchService,
  type SearchService,
  searchProvidersFromConfig,
} from './search/search-service.ts';
import { createStalenessStore } from './staleness-store.ts';

export interface GenerationModuleDeps {
  platform: Pick<Platform, 'config' | 'database' | 'jobs' | 'logger'> &
    Partial<Pick<Platform, 'runHandoff'>>;
  access: ProjectAccess;
  audit: AuditRecorder;
  sheets: SheetService;
  llm: Pick<LlmModule, 'llm' | 'admin'> & Partial<Pick<LlmModule, 'images' | 'cache'>>;
  /** The bus live views read (run progress, row generation). */
  events: EventBus;
  /** Runs execute in this process through pg-boss (false: the CLI executes them itself). */
  useJobs?: boolean;
  /** Tests and benches swap the search service or the scheduler. */
  search?: SearchService;
  runnerOverrides?: Partial<Pick<RunnerDeps, 'scheduler' | 'onCommitLatency'>>;
  /** Image values: cells' images are sent to vision models as image parts (docs/images.md). */
  images?: Pick<ImageService, 'readForModel' | 'storeImage'>;
}

/**
 * Wires AI columns: the store, search, the durable-run engine their runs execute on, the
 * runner and the rows runner (the two run kinds), the staleness tracker and the use cases.
 * Every part gets what it needs as explicit ports, built in dependency order (no part holds a
 * back-reference to one made after it). `start()` once the queue runs (recovers runs a stopped
 * process left); `close()` hands running runs back (cells restored, status queued).
 */
export function createGenerationModule(deps: GenerationModuleDeps) {
  const { platform, sheets } = deps;
  const config = platform.config.generation;
  const logger = platform.logger.child({ module: 'generation' });
  const store = createGenerationStore(platform.database.db);
  const useJobs = deps.useJobs ?? true;
  const search =
    deps.search ??
    createSearchService({
      providers: searchProvidersFromConfig(config.search),
      cache: {
        get: (key) => store.getSearchCache(key),
        put: (key, provider, results) => store.putSearchCache(key, provider, results),
      },
      cacheTtlMs: config.search.cacheTtlMs,
      timeoutMs: config.search.timeoutMs,
      limit: config.search.results,
      logger,
    });
  const owner = `${process.pid}-${randomUUID()}`;
  const staleness = createStalenessTracker({
    sheets,
    store,
    pending: createStalenessStore(platform.database.db),
    logger,
  });

  // The engine: lease, heartbeat (every second: a cancel on another server is seen at once),
  // cancel/pause flags, recovery, requeue at shutdown. Without jobs (the CLI), runs execute
  // only when asked to.
  const engine: DurableRuns = createDurableRuns({
    db: platform.database.db,
    jobs: useJobs ? platform.jobs : undefined,
    logger,
    owner,
    // BRAINCELLS_RUN_LEASE_MS shortens it (how soon another server takes over a dead one's runs).
    leaseMs: Math.min(LEASE_MS, platform.config.runLeaseMs),
    heartbeatMs: HEARTBEAT_MS,
  });
  const active: ActiveRuns = new Map();
  const preparedImages = deps.images ? createPreparedImages(deps.images) : undefined;
  const runner = createRunner({
    store,
    sheets,
    llm: preparedImages ? withImageInputs(deps.llm.llm, preparedImages) : deps.llm.llm,
    preparedImages,
    images:
      deps.images && deps.llm.images
        ? createImageGeneration({
            llm: deps.llm.images,
            images: deps.images,
            cache: deps.llm.cache,
          })
        : undefined,
    search,
    events: deps.events,
    logger,
    config,
    owner,
    active,
    countTokens: loadTokenCounter,
    ...deps.runnerOverrides,
  });
  const control = createRunControl({
    engine,
    store,
    active,
    useJobs,
    platform,
    runsPerProcess: config.runsPerProcess,
    logger,
  });
  // The use cases, each group in files named for its use cases: estimates, runs (which
  // estimate the runs they create), AI columns (which start runs).
  const loaders = createLoaders({ sheets, store, access: deps.access });
  const estimates = createEstimates({ ...deps, config, loaders });
  const runs = createRunUseCases({ ...deps, store, logger, estimates, loaders, control });
  const aiColumns = createAiColumnUseCases({
    ...deps,
    store,
    loaders,
    runs,
    control,
    // The staleness tracker reads processes fresh: nothing to invalidate.
    onProcessesChanged: () => {},
  });
  const rows = createRowsGeneration({
    store,
    sheets,
    llm: deps.llm.llm,
    access: deps.access,
    audit: deps.audit,
    events: deps.events,
    config,
    logger,
    queue: control.queue,
    active,
    steps: (runId) => engine.steps(runId),
  });
  defineGenerationRuns(
    engine,
    {
      executeColumnRun: runner.execute,
      executeRowsRun: rows.executeRowsRun,
      settleRun: runs.settleRun,
      datasetOf: async (runId) => (await store.findRun(runId))?.dataset_id,
    },
    config.runsPerProcess,
    useJobs ? platform.runHandoff : undefined,
  );

  sheets.extend({
    ...createGenerationExtension({
      store,
      sheets,
      control,
      audit: deps.audit,
      // The staleness tracker reads processes fresh: nothing to invalidate.
      onProcessesChanged: () => {},
    }),
    // Cell writes tell the tracker which AI cells may have gone stale (durably, see there).
    cellsChanged: staleness.cellsChanged,
  });

  return {
    /** AI-column use cases (generation-ai-columns.ts). */
    aiColumns,
    /** Run use cases (generation-runs.ts). */
    runs,
    /** Run estimates and `previewRun` (generation-estimates.ts). */
    estimates,
    /** Generate-rows use case (rows-run/generate-rows.ts). */
    rows,
    /** Runs in this process: the CLI and the bench execute and pause runs through it. */
    runner: {
      /** Executes a run here (the CLI, without jobs); resolves once it has settled. */
      execute: async (runId: string) => void (await engine.execute(runId)),
      /** Asks a run to pause or cancel (any server); false when it is not executing here. */
      stop(runId: string, reason: Extract<StopReason, 'pause' | 'cancel'>): boolean {
        const here = active.has(runId);
        void (
          reason === 'pause' ? control.requestPause(runId) : control.requestCancel(runId)
        ).catch((error: unknown) => logger.warn({ err: error, runId }, 'could not stop a run'));
        return here;
      },
      live: control.live,
      processChanged: control.processChanged,
      activeRunIds: () => [...engine.active],
    },
    engine,
    store,
    search,
    staleness,
    /** Vision columns' images, prepared ahead of their calls (the bench reads its counters). */
    preparedImages,
    /** Kept for the composition root: both run kinds were defined (their jobs registered) above. */
    registerJobs() {},
    /** Once the queue runs: pick up runs a stopped process left behind. */
    async start() {
      // Staleness checks a stopped process recorded but did not finish.
      await staleness.recover();
      if (!useJobs || !platform.jobs.started) return;
      // Embedded, this process owns the data dir: every `running` run is an orphan.
      await engine.startRecovery({ embedded: platform.database.kind === 'pglite' });
    },
    async close() {
      // Runs executing here are handed back (cells restored, queued); a runner stuck past
      // the shutdown timeout is left to the next start's recovery.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        engine.stop(),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, platform.config.shutdownTimeoutMs);
          timer.unref();
        }),
      ]);
      clearTimeout(timer);
      await staleness.close();
    },
  };
}

/** The run use cases' port to the engine and to the runs executing in this process. */
function createRunControl(options: {
  engine: DurableRuns;
  store: ReturnType<typeof createGenerationStore>;
  active: ActiveRuns;
  useJobs: boolean;
  platform: GenerationModuleDeps['platform'];
  runsPerProcess: number;
  logger: GenerationModuleDeps['platform']['logger'];
}): RunControl {
  const { engine, store, active, platform, logger } = options;
  return {
    /**
     * A new durable run with the view's id (or its own, paused or failed, queued again). Its
     * job makes it durable; a process that works jobs and has room starts it at once instead
     * of waiting for the queue's next poll (the lease keeps it to one execution).
     */
    async queue(run: RunRow) {
      if (run.durable_run_id) await engine.resume(run.durable_run_id);
      else {
        await engine.start({
          id: run.id,
          kind: runKindOf(run.kind),
          input: { runId: run.id },
          projectId: run.project_id,
        });
        await store.updateRun(run.id, { durable_run_id: run.id });
      }
      if (
        options.useJobs &&
        platform.config.jobsEnabled &&
        platform.jobs.started &&
        engine.active.size < options.runsPerProcess
      )
        void engine
          .execute(run.id)
          .catch((error: unknown) =>
            logger.error({ err: error, runId: run.id }, 'generation run failed to start'),
          );
    },
    requestCancel: async (runId) => (await engine.requestCancel(runId))?.status,
    requestPause: async (runId) => (await engine.requestPause(runId, 'user'))?.status,
    live: (runId) => active.get(runId)?.live(),
    processChanged(runIds) {
      for (const id of runIds) active.get(id)?.reloadProcess();
    },
  };
}

export type GenerationModule = ReturnType<typeof createGenerationModule>;

declare module 'fastify' {
  interface FastifyInstance {
    /** AI columns: use cases (`aiColumns`, `runs`, `estimates`, `rows`), the runner, the staleness tracker. */
    readonly generation: GenerationModule;
  }
}
