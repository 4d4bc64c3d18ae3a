import type { AuditRecorder } from '../access/audit-recorder.ts';
import type { ProjectAccess } from '../access/project-access.ts';
import type { DocumentService } from '../documents/document-service.ts';
import type { LlmService } from '../llm/llm-service.ts';
import type { Platform } from '../platform/platform.ts';
import type { RunUseCases } from '../sheets/generation/generation-runs.ts';
import type { SheetService } from '../sheets/sheet-service.ts';
import { createWorkflowRun, type WorkflowRunOptions } from './workflow-run.ts';
import { createWorkflowService } from './workflow-service.ts';
import type { WorkflowPorts } from './workflow-steps.ts';
import { createWorkflowStore } from './workflow-store.ts';
import { workflowDb } from './workflow-tables.ts';

/**
 * Wires workflows: the `workflows.run` kind on the platform's durable-run engine (defined
 * here, before the job queue starts; recovery is the engine's), the use cases, and the ports
 * steps call — other features' public use cases, never their stores.
 */
export function createWorkflowsModule(deps: {
  platform: Pick<Platform, 'database' | 'runs' | 'logger'>;
  access: ProjectAccess;
  audit: AuditRecorder;
  sheets: SheetService;
  /** AI-column run use cases (start a run, read it). */
  generation: Pick<RunUseCases, 'startRun' | 'getRun'>;
  documents: DocumentService;
  llm: LlmService;
  /** Tests shorten the retry backoff or record the waits. */
  runOptions?: Pick<WorkflowRunOptions, 'retryBaseMs' | 'wait'>;
}) {
  const { sheets, generation, documents, llm } = deps;
  const ports: WorkflowPorts = {
    runSql: (actor, projectId, datasetId, sql) => sheets.runSql(actor, projectId, datasetId, sql),
    datasetColumns: async (actor, projectId, datasetId) =>
      (await sheets.getDataset(actor, projectId, datasetId)).columns.map((column) => ({
        id: column.id,
        name: column.name,
      })),
    startAiColumnRun: (actor, projectId, datasetId, columnId, mode) =>
      generation.startRun(actor, projectId, datasetId, columnId, {
        mode: mode === 'all' ? 'all' : 'empty',
        confirm: true,
      }),
    aiColumnRun: (actor, projectId, datasetId, runId) =>
      generation.getRun(actor, projectId, datasetId, runId),
    documentCounts: async (actor, projectId, datasetId) =>
      (await documents.list(actor, projectId, datasetId)).counts,
    generate: (request) => llm.generate(request),
  };
  const store = createWorkflowStore(workflowDb(deps.platform.database.db));
  deps.platform.runs.define(
    createWorkflowRun({
      store,
      runs: deps.platform.runs,
      ports,
      logger: deps.platform.logger.child({ module: 'workflows' }),
      ...deps.runOptions,
    }),
  );
  const service = createWorkflowService({
    store,
    runs: deps.platform.runs,
    access: deps.access,
    audit: deps.audit,
    ports,
  });
  // A dataset a workflow's current version names is not deleted silently (sheets asks first).
  sheets.guardDatasetDelete({
    usersOf: async (_projectId, datasetId) =>
      (await service.usersOf('dataset', datasetId)).map((workflow) => ({
        kind: 'workflow',
        ...workflow,
      })),
    forced: (actor, projectId, datasetId, users) =>
      service.recordForcedDelete(actor, projectId, 'dataset', datasetId, users),
  });
  return { service };
}
export type WorkflowsModule = ReturnType<typeof createWorkflowsModule>;
