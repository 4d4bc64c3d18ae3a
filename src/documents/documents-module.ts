import type { AuditRecorder } from '../access/audit-recorder.ts';
import type { ProjectAccess } from '../access/project-access.ts';
import type { Platform } from '../platform/platform.ts';
import type { SheetService } from '../sheets/sheet-service.ts';
import { createDocumentService, EXTRACT_JOB } from './document-service.ts';
import { createDocumentStore } from './document-store.ts';

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
  return {
    documents,
    registerJobs: () =>
      platform.jobs.register<{ datasetId: string }>({
        name: EXTRACT_JOB,
        // One extraction at a time per process: each holds a worker thread and a file.
        concurrency: 1,
        handler: async (job) => ({ extracted: await documents.extractQueued(job.data.datasetId) }),
      }),
    start: async () => {
      if (platform.jobs.started) await documents.recover();
    },
  };
}
export type DocumentsModule = ReturnType<typeof createDocumentsModule>;
