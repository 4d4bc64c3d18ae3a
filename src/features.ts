// The composition root: every feature wired once, over an opened platform. buildApp, the CLI
// commands, the benchmarks and the test helpers call createFeatures; nothing else calls a
// feature's create*Module (docs/ARCHITECTURE.md "Composition root").
//
// A feature is built on first use, at most once, from the features it depends on:
//   core (audit recorder → projects → accounts, audit log) → llm → gateway → sheets →
//   images → documents → generation → hub → monitor → chat → workflows
// so a CLI command that needs only the sheets opens no LLM module. The order above is the only
// order; no feature reaches back into one built after it.
//
// Adding a feature: write `src/<feature>/<feature>-module.ts` (a factory that names exactly what
// it needs), add it to FeatureModules and build it with one `lazy(…)` in createFeatures (plus its
// jobs/start/stop lines in the lifecycle methods if it has any), and register its routes in
// src/app.ts under "Feature routes".

import path from 'node:path';
import type { Registry } from 'prom-client';
import type { AuditRecorder } from './access/audit-recorder.ts';
import type { ProjectAccess } from './access/project-access.ts';
import { createAuditModule } from './audit/audit-module.ts';
import { type AuditService, createAuditRecorder } from './audit/audit-service.ts';
import { type AuthModule, createAuthModule } from './auth/auth-module.ts';
import type { PasswordHashParameters } from './auth/password-hash.ts';
import { type ChatModule, createChatModule } from './chat/chat-module.ts';
import { createDocumentsModule, type DocumentsModule } from './documents/documents-module.ts';
import { createGatewayModule, type GatewayModule } from './gateway/gateway-module.ts';
import { createLlmModule, type LlmModule, type LlmModuleDeps } from './llm/llm-module.ts';
import { legacyMonitorProjects } from './monitor/monitor-carry-over.ts';
import { monitorFilesFor } from './monitor/monitor-files.ts';
import { createIngestLeases } from './monitor/monitor-lease.ts';
import { registerRepriceJob } from './monitor/monitor-reprice.ts';
import { createMonitorService, type MonitorService } from './monitor/monitor-service.ts';
import { createMonitorWatchStore } from './monitor/monitor-watch-store.ts';
import { type CacheInvalidation, createCacheInvalidation } from './platform/cache-invalidation.ts';
import { loadSecretBox, type SecretBox } from './platform/crypto.ts';
import { forwardingKey } from './platform/datasets/dataset-forwarding.ts';
import { registerPgliteMaintenance } from './platform/db/pglite-maintenance.ts';
import { createEventLog } from './platform/event-log.ts';
import { createPostgresEventNotifier } from './platform/event-notify.ts';
import { createInProcessEventBus, type EventBus } from './platform/events.ts';
import type { RecurringJob } from './platform/jobs/recurring-job.ts';
import type { Mailer } from './platform/mailer.ts';
import type { Platform } from './platform/platform.ts';
import type { ProjectService } from './projects/project-service.ts';
import { createProjectsModule } from './projects/projects-module.ts';
import {
  createGenerationModule,
  type GenerationModule,
  type GenerationModuleDeps,
} from './sheets/generation/generation-module.ts';
import { createHubModule, type HubModule } from './sheets/hub/hub-module.ts';
import { createImagesModule, type ImagesModule } from './sheets/images/images-module.ts';
import { createSheetsModule, type SheetsModule } from './sheets/sheets-module.ts';
import type { WorkflowRunOptions } from './workflows/workflow-run.ts';
import { createWorkflowsModule, type WorkflowsModule } from './workflows/workflows-module.ts';

/**
 * The services every feature builds on (accounts — users, sessions, API keys, MFA, sign-in —
 * projects, audit, secrets), made once per process. A feature takes exactly what it needs
 * from here, e.g. createSheetsModule({ platform, access: core.access, audit: core.audit, events })
 */
export interface CoreServices extends AuthModule {
  /** AES-256-GCM for secrets at rest (provider keys): `secrets.encrypt(value, secretContext(...))`. */
  secrets: SecretBox;
  /** Writes audit entries inside a mutation's transaction. */
  audit: AuditRecorder;
  /** Reads the audit log (owners, admins). */
  auditLog: AuditService;
  /** The access check for project-scoped use cases: `await access.requireRole(actor, projectId, 'editor')`. */
  access: ProjectAccess;
  projects: ProjectService;
  /** The accounts feature as one value (installSecurity and registerAuthRoutes take it). */
  accounts: AuthModule;
}

/** What the core and the LLM feature need: the metadata database, no DuckDB or job queue. */
export type CorePlatform = Pick<Platform, 'config' | 'logger' | 'database' | 'telemetry'>;

export interface FeatureOptions {
  /** Clock of the accounts feature (sessions, tokens); tests move it. Default: the system clock. */
  now?: () => Date;
  /** Default: SMTP from the config, or none. */
  mailer?: Mailer;
  /** How the sign-in slowdown waits; tests record the delays instead. Default: a timer. */
  loginSleep?: (ms: number) => Promise<void>;
  /** scrypt parameters of new password hashes (src/auth/password-hash.ts); tests lower them. */
  passwordHash?: PasswordHashParameters;
  /** The app's /metrics registry, where the LLM counters go; none: no LLM metrics. */
  registry?: Registry;
  /** Tests wrap the provider adapters or move the LLM clock. */
  llm?: Pick<LlmModuleDeps, 'clock' | 'providerFactory'>;
  /**
   * True (the server): generation runs and imports are pg-boss jobs. False (the CLI): the
   * command executes its run or import itself. Default true.
   */
  useJobs?: boolean;
  /** Tests let a loopback server stand in for a public address in URL imports. */
  sheets?: { addressAllowed?: (address: string) => boolean };
  /** Tests and benches swap the search service or the scheduler of AI columns. */
  generation?: Pick<GenerationModuleDeps, 'search' | 'runnerOverrides'>;
  /**
   * Folders the monitor may import from. Default: BRAINCELLS_MONITOR_ROOTS, which limit the API;
   * the CLI passes [] since it reads any local path its user can.
   */
  monitorRoots?: string[];
  /** Whether the monitor reports our own LLM calls (opens the LLM feature). Default true. */
  monitorOwnCalls?: boolean;
  /** Tests shorten the workflow steps' retry backoff. */
  workflows?: Pick<WorkflowRunOptions, 'retryBaseMs' | 'wait'>;
  /** Tests freeze the gateway's clock (its key cache then never expires by itself). */
  gateway?: { now?: () => number };
}

/**
 * A value built on first use, at most once. `built()` answers without building: the lifecycle
 * starts and stops only the features something asked for.
 */
function lazy<T>(build: () => T): { (): T; built(): T | undefined } {
  let value: T | undefined;
  return Object.assign(
    () => {
      value ??= build();
      return value;
    },
    { built: () => value },
  );
}

/** The core and the LLM feature over the metadata database (the `llm` CLI needs no more). */
export function createCoreFeatures(
  platform: CorePlatform,
  options: FeatureOptions = {},
  /** Servers sharing a PostgreSQL drop each other's stale cache entries (createFeatures). */
  shared: { invalidation?: () => CacheInvalidation | undefined } = {},
) {
  const { config, logger, database } = platform;
  const core = lazy((): CoreServices => {
    const db = database.db;
    const now = options.now ?? (() => new Date());
    const { box: secrets, source } = loadSecretBox({
      dataDir: config.dataDir,
      secret: config.secret,
    });
    if (source === 'key-file' && config.databaseUrl) {
      logger.warn(
        'BRAINCELLS_SECRET is not set: secrets are sealed with a key file in this data dir; servers sharing this PostgreSQL need the same key, so set BRAINCELLS_SECRET',
      );
    }
    const audit = createAuditRecorder();
    const { projects, access } = createProjectsModule({ db, audit, now });
    const accounts = createAuthModule({
      config,
      logger,
      db,
      audit,
      secrets,
      now,
      mailer: options.mailer,
      sleep: options.loginSleep,
      passwordHash: options.passwordHash,
    });
    const { log: auditLog } = createAuditModule({ db, access });
    return { secrets, audit, auditLog, access, projects, ...accounts, accounts };
  });
  const llm = lazy(() =>
    createLlmModule({
      config: config.llm,
      database,
      logger,
      access: core().access,
      secrets: core().secrets,
      registry: options.registry,
      telemetry: platform.telemetry,
      redisUrl: config.rateLimit.redisUrl,
      invalidation: shared.invalidation?.(),
      // Embedded only: the process holding the data dir is the outbox's one writer.
      usageOutboxDir:
        database.kind === 'pglite' ? path.join(config.dataDir, 'llm-usage-outbox') : undefined,
      ...options.llm,
    }),
  );

  return {
    /** Accounts, projects, audit and secrets. */
    get core(): CoreServices {
      return core();
    },
    /** Every LLM call goes through it (docs/llm.md). */
    get llm(): LlmModule {
      return llm();
    },
    /** Writes pending LLM usage and stops its timers (if the LLM feature was built). */
    async close(): Promise<void> {
      await llm.built()?.close();
    },
  };
}

export type CoreFeatures = ReturnType<typeof createCoreFeatures>;

/** What `createFeatures` gives: each feature, built on first read. */
export interface FeatureModules {
  /** Accounts, projects, audit and secrets. */
  core: CoreServices;
  /** Every LLM call goes through it (docs/llm.md). */
  llm: LlmModule;
  /** The bus the features publish live updates on. */
  events: EventBus;
  /** Datasets, columns, cells, import and export (docs/sheets.md). */
  sheets: SheetsModule;
  /** Image values: the blob store, uploads, ZIP imports, thumbnails (docs/images.md). */
  images: ImagesModule;
  /** AI columns (docs/ai-columns.md): runs are pg-boss jobs unless `useJobs` is false. */
  generation: GenerationModule;
  /** Publishing datasets to the Hugging Face Hub (docs/images.md "Publish to the Hub"). */
  hub: HubModule;
  /** Token and cost analytics over coding-agent logs (docs/monitor.md). */
  monitor: MonitorService;
  /** Documents in, text out (docs/documents.md): uploads, extraction job, collections. */
  documents: DocumentsModule;
  /** The OpenAI/Anthropic-compatible gateway for outside apps (docs/gateway.md). */
  gateway: GatewayModule;
  /** Projects → threads → messages; replies are durable runs (docs/chat.md). */
  chat: ChatModule;
  /** Durable multi-step runs over the other features (docs/workflows.md). */
  workflows: WorkflowsModule;
}

/** `target` with one read-only, enumerable getter per entry of `sources`. */
function withGetters<Target extends object, Values>(
  target: Target,
  sources: { [Key in keyof Values]: () => Values[Key] },
): Target & Readonly<Values> {
  for (const [key, get] of Object.entries(sources)) {
    Object.defineProperty(target, key, { get: get as () => unknown, enumerable: true });
  }
  return target as Target & Readonly<Values>;
}

/**
 * Every feature over an opened platform. Lifecycle, in the app's order: `registerJobs()` before
 * the job queue starts; `start()` once it runs; `stopWork()` when the server begins to close
 * (running AI-column runs are handed back); `close()` after the last request.
 */
export function createFeatures(platform: Platform, options: FeatureOptions = {}) {
  // On PostgreSQL other servers cache the same metadata: a change made here drops their copies
  // too, through the event bus (issue #20 item 6; src/platform/cache-invalidation.ts).
  const invalidation = lazy(() => createCacheInvalidation(events(), platform.logger));
  const cacheInvalidation = () =>
    platform.database.kind === 'postgres' ? invalidation() : undefined;
  const base = createCoreFeatures(platform, options, { invalidation: cacheInvalidation });
  const useJobs = options.useJobs ?? true;
  const core = () => base.core;
  const fromCore = () => ({ platform, access: core().access, audit: core().audit });
  let maintenance: RecurringJob | undefined;
  // Live views (SSE) of every feature share one event bus (src/platform/events.ts); its ids and
  // recent events are kept in the metadata database, so a restart does not force a reload.
  const events = lazy(() => {
    const { database } = platform;
    return createInProcessEventBus({
      log: createEventLog(database.db),
      // On PostgreSQL other servers (and the CLI) may publish on the same streams: they tell
      // each other through LISTEN/NOTIFY and read what they missed from the log (issue #20).
      ...(database.kind === 'postgres' && database.connectionString
        ? {
            shared: createPostgresEventNotifier({
              connectionString: database.connectionString,
              db: database.db,
              onError: (error, operation) =>
                platform.logger.warn({ err: error, operation }, 'event notices failed'),
            }),
          }
        : {}),
      onError: (error, operation) =>
        platform.logger.warn({ err: error, operation }, 'event log failed'),
    });
  });

  const sheets = lazy(() =>
    createSheetsModule({ ...fromCore(), events: events(), useJobs, ...options.sheets }),
  );
  const images = lazy(() =>
    createImagesModule({ ...fromCore(), sheets: sheets().sheets, imports: sheets().imports }),
  );
  const documents = lazy(() => createDocumentsModule({ ...fromCore(), sheets: sheets().sheets }));
  const gateway = lazy(() =>
    createGatewayModule({
      database: platform.database,
      llm: base.llm,
      llmConfig: platform.config.llm,
      gatewayConfig: platform.config.gateway,
      access: core().access,
      audit: core().audit,
      logger: platform.logger,
      invalidation: cacheInvalidation(),
      ...options.gateway,
    }),
  );
  // Chat replies are durable runs whose kind is defined when the module is made: before the
  // job queue starts (registerJobs builds it).
  const chat = lazy(() =>
    createChatModule({
      ...fromCore(),
      events: events(),
      llm: base.llm.llm,
      tools: { sheets: sheets().sheets, search: generation().search },
      images: images(),
    }),
  );
  const generation = lazy(() =>
    createGenerationModule({
      ...fromCore(),
      sheets: sheets().sheets,
      llm: base.llm,
      events: events(),
      images: images().images,
      useJobs,
      ...options.generation,
    }),
  );

  // Publishing to the Hugging Face Hub: the card describes the AI columns, the data is the
  // images export's Parquet.
  const hub = lazy(() =>
    createHubModule({
      ...fromCore(),
      secrets: core().secrets,
      sheets: sheets().sheets,
      aiColumns: generation().aiColumns,
      writeParquet: images().writeImages,
      useJobs,
    }),
  );

  // Workflow runs are durable runs too (defined before the job queue starts); their steps call
  // the sheets, AI-column, documents and LLM use cases.
  const workflows = lazy(() => {
    const module = createWorkflowsModule({
      ...fromCore(),
      sheets: sheets().sheets,
      generation: generation().runs,
      aiColumns: generation().aiColumns,
      documents: documents().documents,
      llm: base.llm.llm,
      agents: chat().agents,
      exports: sheets().exports,
      events: events(),
      // Without job workers (the CLI) an `ai-column` step's run executes in this process.
      ...(useJobs ? {} : { executeAiColumnRun: generation().runner.execute }),
      ...(options.workflows ? { runOptions: options.workflows } : {}),
    });
    // An agent a workflow's `llm` step names is not deleted silently (chat asks first).
    const service = module.service;
    chat().agents.guardAgentDelete({
      usersOf: async (_projectId, agentId) =>
        (await service.usersOf('agent', agentId)).map((user) => ({ kind: 'workflow', ...user })),
    });
    return module;
  });

  const monitor = lazy(() =>
    createMonitorService({
      duckdb: platform.duckdb,
      files: monitorFilesFor(platform),
      access: core().access,
      roots: options.monitorRoots ?? platform.config.monitor.roots,
      uploadDir: path.join(platform.config.dataDir, 'monitor-uploads'),
      ownCalls: (options.monitorOwnCalls ?? true) ? base.llm.admin : undefined,
      // Opens the LLM feature at the first import only (reports do not need it).
      priceOverrides: { listPrices: (actor, id) => base.llm.admin.listPrices(actor, id) },
      leases: createIngestLeases(platform.database.db),
      watchSettings: createMonitorWatchStore(platform.database.db),
      log: platform.logger,
      repriceHandOff: {
        key: platform.config.secret.current
          ? forwardingKey(platform.config.secret.current)
          : undefined,
        serverId: platform.datasetLeases.serverId,
      },
    }),
  );

  // Methods use no `this`: the app passes them to Fastify hooks as they are.
  const lifecycle = {
    /** Registers every feature's jobs; call before the queue starts (builds the features). */
    registerJobs(): void {
      sheets().registerJobs();
      images().registerJobs();
      documents().registerJobs();
      generation().registerJobs();
      registerRepriceJob({
        jobs: platform.jobs,
        prices: base.llm.admin,
        // The monitor (and its DuckDB tables) is built when a job first runs.
        monitor,
        log: platform.logger,
      });
      hub().registerJobs();
      // PGlite has no autovacuum (docs/deploy.md "PGlite maintenance").
      maintenance = registerPgliteMaintenance({
        database: platform.database,
        jobs: platform.jobs,
        logger: platform.logger,
      });
      chat();
      workflows();
    },
    /** Once the queue runs: scheduled jobs queued, runs a stopped process left recovered. */
    async start(): Promise<void> {
      await sheets.built()?.start();
      await images.built()?.start();
      await documents.built()?.start();
      await generation.built()?.start();
      await hub.built()?.start();
      await chat.built()?.start();
      await maintenance?.start();
      // The folders projects asked the server to watch (docs/monitor.md "Server-side watch"),
      // on servers that may hold a project's monitor data (not BRAINCELLS_ROLE=api).
      if (platform.datasetServers.mayHold) await monitor.built()?.startServerWatches();
      // Rows this server imported when it was alone move into the projects' shared files
      // (docs/deploy.md "Monitor data across servers"); not awaited: a start never waits on it.
      if (
        platform.config.databaseUrl &&
        platform.config.storageDir &&
        platform.datasetServers.mayHold
      )
        void legacyMonitorProjects(platform.duckdb)
          .then((projects) => (projects.length > 0 ? monitor().carryOverLegacy() : undefined))
          .catch((error: unknown) =>
            platform.logger.warn({ err: error }, 'monitor: carrying rows over failed'),
          );
    },
    /** Hands running AI-column runs back (cells restored, status queued). */
    async stopWork(): Promise<void> {
      await monitor.built()?.stopServerWatches();
      await generation.built()?.close();
    },
    /** After the last request: pending usage written, background copies settled. */
    async close(): Promise<void> {
      gateway.built()?.close();
      await monitor.built()?.close();
      await base.close();
      invalidation.built()?.close();
      // A sorted view's background copy must not outlive DuckDB.
      await sheets.built()?.data.copiesSettled();
      // After stopWork (running runs hand their cells back, publishing): store what is pending.
      await events.built()?.close();
    },
  };
  return withGetters<typeof lifecycle, FeatureModules>(lifecycle, {
    core,
    llm: () => base.llm,
    events,
    sheets,
    images,
    generation,
    hub,
    monitor,
    documents,
    gateway,
    chat,
    workflows,
  });
}

export type Features = ReturnType<typeof createFeatures>;
