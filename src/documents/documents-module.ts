import type { AuditRecorder } from '../access/audit-recorder.ts';
import type { ProjectAccess } from '../access/project-access.ts';
import { registerRecurringJob } from '../platform/jobs/recurring-job.ts';
import type { Platform } from '../platform/platform.ts';
import type { SheetService } from '../sheets/sheet-service.ts';
import { createDocumentService, EXTRACT_JOB, EXTRACT_STALL_SECONDS } from './document-service.ts';
import { createDocumentStore } from './document-store.ts';

/** Extractions whose server stopped (no heartbeat) go back to the queue, on any server. */
export const RECOVER_JOB = 'documents.recover-extractions';

/**
 * Wires documents: the store, the service and the extraction job. `registerJobs()` before the
 * queue starts; `start()` once it runs (documents a stopped server was extracting are queued
 * again).
 */
export function createDocumentsModule(deps: {
  platform: Pick<Platform, 'config' | 'database' | 'jobs' | 'logger'>;
  access: ProjectAccess;
  audit: AuditRecorder;
  sheets: SheetService;
}) {
  const { platform } = deps;
  const documents = createDocumentService({
    store: createDocumentStore(platform.database.db),
    sheets: deps.sheets,
    access: deps.access,
    audit: deps.audit,
    jobs: platform.jobs,
    logger: platform.logger,
    settings: { dataDir: platform.config.dataDir, ...platform.config.documents },
  });
  /** Several servers may share the database: only a stalled extraction is taken over. */
  const shared = platform.config.mode !== 'embedded';
  let recovery: ReturnType<typeof registerRecurringJob> | undefined;
  return {
    documents,
    registerJobs: () => {
      if (shared)
        recovery = registerRecurringJob(platform.jobs, platform.logger, {
          name: RECOVER_JOB,
          everySeconds: 60,
          firstAfterSeconds: EXTRACT_STALL_SECONDS,
          run: () => documents.recover(EXTRACT_STALL_SECONDS),
        });
      platform.jobs.register<{ datasetId: string }>({
        name: EXTRACT_JOB,
        // One extraction at a time per process: each holds a worker thread and a file.
        concurrency: 1,
        handler: async (job) => ({ extracted: await documents.extractQueued(job.data.datasetId) }),
      });
    },
    start: async () => {
      if (!platform.jobs.started) return;
      // The only server (embedded: the data dir is locked to one process) takes back every
      // interrupted extraction at once; among several, the others' may still be running.
      await documents.recover(shared ? EXTRACT_STALL_SECONDS : undefined);
      await recovery?.start();
    },
  };
}
export type DocumentsModule = ReturnType<typeof createDocumentsModule>;

declare module 'fastify' {
  interface FastifyInstance {
    /** Documents: the service (uploads, extraction, recovery). */
    readonly documents: DocumentsModule;
  }
}
