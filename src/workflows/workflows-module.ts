import type { AuditRecorder } from '../access/audit-recorder.ts';
import type { ProjectAccess } from '../access/project-access.ts';
import type { DocumentService } from '../documents/document-service.ts';
import type { LlmService } from '../llm/llm-service.ts';
import { isAppError } from '../platform/app-error.ts';
import type { Platform } from '../platform/platform.ts';
import type { AiColumnUseCases } from '../sheets/generation/generation-ai-columns.ts';
import type { RunUseCases } from '../sheets/generation/generation-runs.ts';
import type { SheetService } from '../sheets/sheet-service.ts';
import { createWorkflowRun, type WorkflowRunOptions } from './workflow-run.ts';
import { createWorkflowService } from './workflow-service.ts';
import type { WorkflowPorts } from './workflow-steps.ts';
import { createWorkflowStore } from './workflow-store.ts';
import { workflowDb } from './workflow-tables.ts';
import type { TemplatePorts } from './workflow-templates.ts';

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
  /** AI-column creation (templates make the columns their steps fill). */
  aiColumns: Pick<AiColumnUseCases, 'createAiColumn'>;
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
    documents: async (actor, projectId, datasetId) =>
      (await documents.list(actor, projectId, datasetId)).items,
    documentPages: (actor, projectId, documentId) => documents.pages(actor, projectId, documentId),
    findDocument: async (actor, projectId, documentId) =>
      documents.get(actor, projectId, documentId).catch((error: unknown) => {
        if (isAppError(error) && error.code === 'NOT_FOUND') return undefined;
        throw error;
      }),
    async ensureColumns(actor, projectId, datasetId, wanted) {
      const dataset = await sheets.getDataset(actor, projectId, datasetId);
      const ids: Record<string, string> = {};
      for (const column of dataset.columns) ids[column.name] ??= column.id;
      for (const column of wanted) {
        if (ids[column.name]) continue;
        const added = await sheets.addColumn(actor, projectId, datasetId, column);
        ids[column.name] = added.id;
      }
      return Object.fromEntries(wanted.map((column) => [column.name, ids[column.name]!]));
    },
    async readRows(actor, projectId, datasetId, columnIds) {
      const rows: { rowId: string; values: Record<string, unknown> }[] = [];
      let afterRowId: string | undefined;
      for (;;) {
        const window = await sheets.readWindow(actor, projectId, datasetId, {
          limit: 1_000,
          columns: columnIds,
          ...(afterRowId ? { afterRowId } : {}),
        });
        for (const row of window.rows)
          rows.push({
            rowId: row.rowId,
            values: Object.fromEntries(columnIds.map((id) => [id, row.cells[id]?.value ?? null])),
          });
        if (window.rows.length < 1_000) return rows;
        afterRowId = window.rows.at(-1)!.rowId;
      }
    },
    appendRows: async (actor, projectId, datasetId, rows) =>
      (await sheets.appendRows(actor, projectId, datasetId, rows)).rowIds.map(String),
    async deleteRows(actor, projectId, datasetId, rowIds) {
      await sheets.deleteRows(
        actor,
        projectId,
        datasetId,
        rowIds.map((id) => BigInt(id)),
      );
    },
    async findRows(actor, projectId, datasetId, rowIds) {
      const dataset = await sheets
        .getDataset(actor, projectId, datasetId)
        .catch((error: unknown) => {
          if (isAppError(error) && error.code === 'NOT_FOUND') return undefined;
          throw error;
        });
      if (!dataset) return undefined;
      const first = dataset.columns[0];
      if (!first) return { name: dataset.name, rowIds: new Set<string>() };
      const found = await sheets.readCells(
        actor,
        projectId,
        datasetId,
        [first.id],
        rowIds.map((id) => BigInt(id)),
      );
      return { name: dataset.name, rowIds: new Set([...found.keys()].map(String)) };
    },
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
  const templates: TemplatePorts = {
    sampleDocuments: (actor, projectId) => documents.addSamples(actor, projectId),
    dataset: (actor, projectId, datasetId) => sheets.getDataset(actor, projectId, datasetId),
    createDataset: (actor, projectId, name, columns) =>
      sheets.createDataset(actor, projectId, { name, columns }),
    createAiColumn: async (actor, projectId, datasetId, column) => {
      const created = await deps.aiColumns.createAiColumn(actor, projectId, datasetId, {
        name: column.name,
        prompt: column.prompt,
        model: column.model,
        ...(column.provider ? { provider: column.provider } : {}),
        run: false,
      });
      return { id: created.column.id, name: created.column.name };
    },
  };
  const service = createWorkflowService({
    store,
    runs: deps.platform.runs,
    access: deps.access,
    audit: deps.audit,
    ports,
    templates,
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
  // Nor is a document whose collection a workflow reads (documents asks first).
  documents.guardDocumentDelete({
    async usersOf(_projectId, document) {
      const users = new Map<string, { id: string; name: string }>();
      for (const workflow of [
        ...(await service.usersOf('document', document.id)),
        ...(await service.usersOf('dataset', document.datasetId)),
      ])
        users.set(workflow.id, workflow);
      return [...users.values()].map((workflow) => ({ kind: 'workflow', ...workflow }));
    },
  });
  return { service };
}
export type WorkflowsModule = ReturnType<typeof createWorkflowsModule>;
