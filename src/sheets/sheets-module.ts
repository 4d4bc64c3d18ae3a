import type { AuditRecorder } from '../access/audit-recorder.ts';
import type { ProjectAccess } from '../access/project-access.ts';
import type { EventBus } from '../platform/events.ts';
import type { Platform } from '../platform/platform.ts';
import { createSheetExportService } from './export/sheet-export-service.ts';
import {
  createSheetImportService,
  IMPORT_JOB,
  STALL_SECONDS,
} from './import/sheet-import-service.ts';
import { createSheetDataStore } from './sheet-data-store.ts';
import { createSheetService } from './sheet-service.ts';
import { createSheetStore } from './sheet-store.ts';
import { createViewService } from './views/view-service.ts';
import { createViewStore } from './views/view-store.ts';

export const PURGE_JOB = 'sheets.purge-datasets';
const PURGE_EVERY_SECONDS = 3_600;
export const RECOVER_IMPORTS_JOB = 'sheets.recover-imports';
const RECOVER_EVERY_SECONDS = 60;
export const PURGE_UPLOADS_JOB = 'sheets.purge-uploads';
const PURGE_UPLOADS_EVERY_SECONDS = 3_600;

/** Job payload of `sheets.import-file`. */
export interface ImportJobData {
  importId: string;
}

/**
 * Wires the sheets feature on a platform: stores, services, and its jobs (registered here,
 * before the queue starts). The app, the CLI and tests build it the same way.
 */
export function createSheetsModule(deps: {
  platform: Platform;
  access: ProjectAccess;
  audit: AuditRecorder;
  events: EventBus;
  /** False (the CLI, tests): imports are executed by their caller, never queued. Default true. */
  useJobs?: boolean | undefined;
  /** Tests let a loopback server stand in for a public address in URL imports. */
  addressAllowed?: ((address: string) => boolean) | undefined;
}) {
  const { platform, access, events } = deps;
  const store = createSheetStore(platform.database.db);
  const data = createSheetDataStore({
    duckdb: platform.duckdb,
    formula: {
      timeoutMs: platform.config.sheets.formulaTimeoutMs,
      maxValueBytes: platform.config.sheets.formulaMaxValueBytes,
    },
  });
  const sheets = createSheetService({
    store,
    data,
    access,
    events,
    duckdb: platform.duckdb,
    settings: platform.config.sheets,
  });
  const views = createViewService({
    views: createViewStore(platform.database.db),
    sheets: store,
    access,
  });
  const exports = createSheetExportService({
    sheets,
    duckdb: platform.duckdb,
    db: platform.database.db,
    audit: deps.audit,
    dataDir: platform.config.dataDir,
  });
  const imports = createSheetImportService({
    store,
    data,
    access,
    events,
    duckdb: platform.duckdb,
    jobs: (deps.useJobs ?? true) ? platform.jobs : undefined,
    logger: platform.logger,
    settings: { ...platform.config.sheets, dataDir: platform.config.dataDir },
    storageDir: platform.config.storageDir,
    ...(deps.addressAllowed ? { addressAllowed: deps.addressAllowed } : {}),
  });

  /** Queues a self-rescheduling job once (a singleton already queued answers "not queued"). */
  const scheduleOnce = (name: string, delaySeconds: number) =>
    platform.jobs
      .send(name, {}, { singletonKey: name, startAfter: delaySeconds })
      .catch((error: unknown) => {
        platform.logger.debug({ err: error, job: name }, 'job already scheduled');
      });
  const schedulePurge = (delaySeconds: number) => scheduleOnce(PURGE_JOB, delaySeconds);
  const scheduleRecovery = (delaySeconds: number) =>
    scheduleOnce(RECOVER_IMPORTS_JOB, delaySeconds);

  const registerJobs = () => {
    platform.jobs.register<ImportJobData>({
      name: IMPORT_JOB,
      // Never retried: a failed import is recorded and the user starts another.
      queue: { retryLimit: 0 },
      concurrency: 1,
      handler: async (job) => imports.executeImport(job.data.importId),
    });
    // Imports whose server stopped mid-read are failed and cleaned up (no heartbeat).
    platform.jobs.register({
      name: RECOVER_IMPORTS_JOB,
      handler: async () => {
        const failed = await imports.recoverStalled();
        await scheduleRecovery(RECOVER_EVERY_SECONDS);
        return { failed };
      },
    });
    // Uploads never started are removed after BRAINCELLS_IMPORT_UPLOAD_RETENTION_HOURS.
    platform.jobs.register({
      name: PURGE_UPLOADS_JOB,
      handler: async () => {
        const purged = await imports.purgeExpiredUploads();
        await scheduleOnce(PURGE_UPLOADS_JOB, PURGE_UPLOADS_EVERY_SECONDS);
        return { purged };
      },
    });
    platform.jobs.register({
      name: PURGE_JOB,
      handler: async () => {
        const purged = await sheets.purgeExpiredDatasets();
        if (purged > 0) platform.logger.info({ purged }, 'purged deleted datasets');
        await schedulePurge(PURGE_EVERY_SECONDS);
        return { purged };
      },
    });
  };

  return {
    store,
    data,
    sheets,
    imports,
    views,
    exports,
    events,
    registerJobs,
    /** Once the queue runs: make sure a purge and the import recovery are scheduled. */
    start: async () => {
      if (!platform.jobs.started) return;
      await schedulePurge(60);
      await scheduleRecovery(STALL_SECONDS);
      await scheduleOnce(PURGE_UPLOADS_JOB, 300);
    },
  };
}

export type SheetsModule = ReturnType<typeof createSheetsModule>;
