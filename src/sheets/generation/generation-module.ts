import { randomUUID } from 'node:crypto';
import type { AuditRecorder } from '../../audit/audit-service.ts';
import type { LlmModule } from '../../llm/llm-module.ts';
import { loadTokenCounter } from '../../llm/llm-tokens.ts';
import type { EventBus } from '../../platform/events.ts';
import type { Platform } from '../../platform/platform.ts';
import type { ProjectAccess } from '../../projects/project-access.ts';
import type { SheetService } from '../sheet-service.ts';
import { createGenerationExtension } from './generation-extension.ts';
import { queueRun, recoverRuns, registerGenerationJobs } from './generation-job.ts';
import { createRowsGeneration, type RowsGeneration } from './generation-rows.ts';
import { createRunner, LEASE_MS, type RunnerDeps } from './generation-runner.ts';
import { createGenerationService } from './generation-service.ts';
import { createStalenessTracker } from './generation-staleness.ts';
import { createGenerationStore } from './generation-store.ts';
import {
  createSearchService,
  type SearchService,
  searchProvidersFromConfig,
} from './search/search-service.ts';
import { createStalenessStore } from './staleness-store.ts';

export interface GenerationModuleDeps {
  platform: Pick<Platform, 'config' | 'database' | 'jobs' | 'logger'>;
  access: ProjectAccess;
  audit: AuditRecorder;
  sheets: SheetService;
  llm: Pick<LlmModule, 'llm' | 'admin'>;
  /** The bus live views read (run progress, row generation). */
  events: EventBus;
  /** Runs execute in this process through pg-boss (false: the CLI executes them itself). */
  useJobs?: boolean;
  /** Tests and benches swap the search service or the scheduler. */
  search?: SearchService;
  runnerOverrides?: Partial<Pick<RunnerDeps, 'scheduler' | 'onCommitLatency'>>;
}

/**
 * Wires AI columns: the store, search, the runner (job handler), the staleness tracker and the
 * use cases. `registerJobs()` before the queue starts; `start()` once it runs (recovers runs a
 * stopped process left); `close()` hands running runs back (cells restored, status queued).
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

  let service: ReturnType<typeof createGenerationService>;
  let rows: RowsGeneration;
  /**
   * The job makes the run durable; a process that works jobs and has room starts it at once
   * instead of waiting for the queue's next poll (the lease keeps it to one execution).
   */
  const dispatch = async (runId: string) => {
    await queueRun(platform.jobs, runId);
    if (
      platform.config.jobsEnabled &&
      platform.jobs.started &&
      runner.activeRunIds().length < config.runsPerProcess
    )
      void runner
        .execute(runId)
        .catch((error: unknown) =>
          logger.error({ err: error, runId }, 'generation run failed to start'),
        );
  };
  const runner = createRunner({
    store,
    sheets,
    llm: deps.llm.llm,
    search,
    events: deps.events,
    logger,
    config,
    owner,
    countTokens: loadTokenCounter,
    onCompleted: (run) => service.startDownstream(run),
    executeRows: (run, control) => rows.executeRowsRun(run, control),
    requeue: useJobs ? async (runId) => void (await queueRun(platform.jobs, runId)) : undefined,
    ...deps.runnerOverrides,
  });
  service = createGenerationService({
    store,
    sheets,
    llm: deps.llm,
    access: deps.access,
    audit: deps.audit,
    events: deps.events,
    config,
    runner,
    logger,
    dispatch: useJobs ? dispatch : undefined,
  });

  sheets.extend({
    ...createGenerationExtension({
      store,
      sheets,
      runner,
      audit: deps.audit,
      // The staleness tracker reads processes fresh: nothing to invalidate.
      onProcessesChanged: () => {},
    }),
    // Cell writes tell the tracker which AI cells may have gone stale (durably, see there).
    cellsChanged: staleness.cellsChanged,
  });

  rows = createRowsGeneration({
    store,
    sheets,
    llm: deps.llm.llm,
    access: deps.access,
    audit: deps.audit,
    events: deps.events,
    config,
    logger,
    owner,
    dispatch: useJobs ? dispatch : undefined,
  });

  let sweeper: NodeJS.Timeout | undefined;
  const recover = (allRunningAreOrphans: boolean) =>
    recoverRuns({
      store,
      sheets,
      jobs: platform.jobs,
      logger,
      allRunningAreOrphans,
      isActiveHere: (runId) => runner.activeRunIds().includes(runId),
    });

  return {
    service,
    rows,
    runner,
    store,
    search,
    staleness,
    registerJobs() {
      if (useJobs)
        registerGenerationJobs({ jobs: platform.jobs, runner, concurrency: config.runsPerProcess });
    },
    /** Once the queue runs: pick up runs a stopped process left behind. */
    async start() {
      // Staleness checks a stopped process recorded but did not finish.
      await staleness.recover();
      if (!useJobs || !platform.jobs.started) return;
      // Embedded, this process owns the data dir: every `running` run is an orphan.
      await recover(platform.database.kind === 'pglite');
      if (platform.database.kind !== 'pglite') {
        sweeper = setInterval(() => {
          void recover(false).catch((error: unknown) =>
            logger.warn({ err: error }, 'run recovery failed'),
          );
        }, LEASE_MS);
        sweeper.unref();
      }
    },
    async close() {
      if (sweeper) clearInterval(sweeper);
      await runner.shutdown(platform.config.shutdownTimeoutMs);
      await staleness.close();
    },
  };
}

export type GenerationModule = ReturnType<typeof createGenerationModule>;

declare module 'fastify' {
  interface FastifyInstance {
    /** AI columns: use cases (`service`), the runner, the staleness tracker. */
    readonly generation: GenerationModule;
  }
}
