import type { AuditRecorder } from '../../access/audit-recorder.ts';
import type { ProjectAccess } from '../../access/project-access.ts';
import type { SecretBox } from '../../platform/crypto.ts';
import type { Platform } from '../../platform/platform.ts';
import type { ExportWriter } from '../export/sheet-export-service.ts';
import type { AiColumnUseCases } from '../generation/generation-ai-columns.ts';
import type { ImageExportFormat } from '../images/image-export.ts';
import type { SheetService } from '../sheet-service.ts';
import { createHubPublishService, PUBLISH_JOB } from './hub-publish-service.ts';
import { createHubStore } from './hub-store.ts';

/**
 * Wires publishing to the Hugging Face Hub (docs/images.md "Publish to the Hub"): the store,
 * the service and the `sheets.publish-hub` job. The Hub is BRAINCELLS_HF_HUB_URL (the one Hub
 * imports read from); the token is the project's, else HF_TOKEN.
 */
export function createHubModule(deps: {
  platform: Pick<Platform, 'config' | 'database' | 'duckdb' | 'jobs' | 'logger'>;
  access: ProjectAccess;
  audit: AuditRecorder;
  secrets: SecretBox;
  sheets: SheetService;
  aiColumns: Pick<AiColumnUseCases, 'getAiColumn'>;
  writeParquet: ExportWriter<ImageExportFormat>;
  useJobs: boolean;
}) {
  const { platform } = deps;
  const service = createHubPublishService({
    db: platform.database.db,
    store: createHubStore(platform.database.db),
    access: deps.access,
    audit: deps.audit,
    secrets: deps.secrets,
    sheets: deps.sheets,
    aiColumns: deps.aiColumns,
    // An export writer reads the dataset's own DuckDB file, attached first (as exportWith does).
    writeParquet: async (input) => {
      await platform.duckdb.datasets.open(input.datasetId);
      return deps.writeParquet(input);
    },
    jobs: deps.useJobs ? platform.jobs : undefined,
    logger: platform.logger.child({ module: 'hub' }),
    settings: {
      hubUrl: platform.config.sheets.hfHubUrl,
      envToken: platform.config.sheets.hfToken,
      dataDir: platform.config.dataDir,
    },
  });
  return {
    service,
    registerJobs() {
      platform.jobs.register<{ publishId: string }>({
        name: PUBLISH_JOB,
        // Never retried by the queue: a failed publish is recorded and the user retries it.
        queue: { retryLimit: 0 },
        handler: async (job) => service.executePublish(job.data.publishId),
      });
    },
    async start() {
      // Embedded, this process owns the data dir: a publish left running was cut off. With
      // several servers, only those whose heartbeat stopped (the others may be running).
      if (platform.database.kind === 'pglite') {
        const failed = await service.recover();
        if (failed > 0) platform.logger.info({ failed }, 'publishes cut off by a stop failed');
      } else await service.reapStale();
      await service.cleanStaging();
    },
  };
}
export type HubModule = ReturnType<typeof createHubModule>;
