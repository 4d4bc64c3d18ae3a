import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Actor } from '../access/actor.ts';
import type { AuditRecorder } from '../access/audit-recorder.ts';
import type { ProjectAccess } from '../access/project-access.ts';
import type { DocumentService } from '../documents/document-service.ts';
import type { LlmService } from '../llm/llm-service.ts';
import { isAppError } from '../platform/app-error.ts';
import type { EventBus } from '../platform/events.ts';
import type { Platform } from '../platform/platform.ts';
import type { SheetExportService } from '../sheets/export/sheet-export-service.ts';
import type { AiColumnUseCases } from '../sheets/generation/generation-ai-columns.ts';
import type { RunUseCases } from '../sheets/generation/generation-runs.ts';
import type { RowRecord } from '../sheets/sheet-cell-record.ts';
import type { SheetService } from '../sheets/sheet-service.ts';
import { createRunEvents } from './workflow-events.ts';
import { createWorkflowRun, type WorkflowRunOptions } from './workflow-run.ts';
import { createWorkflowService } from './workflow-service.ts';
import type { WorkflowAgent, WorkflowPorts } from './workflow-steps.ts';
import { createWorkflowStore } from './workflow-store.ts';
import { workflowDb } from './workflow-tables.ts';
import type { TemplatePorts } from './workflow-templates.ts';

/** A lookup's NOT_FOUND as `undefined`; any other error as it is. */
function orUndefinedWhenNotFound(error: unknown): undefined {
  if (isAppError(error) && error.code === 'NOT_FOUND') return undefined;
  throw error;
}

/**
 * Wires workflows: the `workflows.run` kind on the platform's durable-run engine (defined
 * here, before the job queue starts; recovery is the engine's), the use cases, and the ports
 * steps call — other features' public use cases, never their stores.
 */
export function createWorkflowsModule(deps: {
  platform: Pick<Platform, 'database' | 'runs' | 'logger' | 'config'>;
  access: ProjectAccess;
  audit: AuditRecorder;
  sheets: SheetService;
  /** AI-column run use cases (start a run, read it). */
  generation: Pick<RunUseCases, 'startRun' | 'getRun'>;
  /** AI-column creation (templates make the columns their steps fill). */
  aiColumns: Pick<AiColumnUseCases, 'createAiColumn'>;
  documents: DocumentService;
  llm: LlmService;
  /** The sheets export use case (`export` steps; audited as `dataset.export`). */
  exports: Pick<SheetExportService, 'exportDataset'>;
  /** The bus runs publish their live view on (`workflow-run:<id>`). */
  events: EventBus;
  /** The project's chat agents an `llm` step may name (chat's agent use cases; NOT_FOUND on a miss). */
  agents: {
    getAgent(actor: Actor, projectId: string, agentId: string): Promise<WorkflowAgent>;
  };
  /**
   * Executes an AI-column run in this process: given where no job workers run (the CLI), so an
   * `ai-column` step of a run executed here does not wait for a server.
   */
  executeAiColumnRun?: (runId: string) => Promise<void>;
  /** Tests shorten the retry backoff or record the waits. */
  runOptions?: Pick<WorkflowRunOptions, 'retryBaseMs' | 'wait'>;
}) {
  const { sheets, generation, documents, llm } = deps;
  // Files `export` steps write: DATA_DIR/workflows/runs/<runId>/<stepId>.<format> (ids only).
  const runFolder = (runId: string) =>
    path.join(deps.platform.config.dataDir, 'workflows', 'runs', runId);
  /** Every row of a dataset with the cells of `columnIds`, in pages of 1,000 (row id order). */
  async function* windows(
    actor: Actor,
    projectId: string,
    datasetId: string,
    columnIds: string[],
  ): AsyncGenerator<RowRecord[]> {
    let afterRowId: string | undefined;
    for (;;) {
      const window = await sheets.readWindow(actor, projectId, datasetId, {
        limit: 1_000,
        columns: columnIds,
        ...(afterRowId ? { afterRowId } : {}),
      });
      yield window.rows;
      if (window.rows.length < 1_000) return;
      afterRowId = window.rows.at(-1)!.rowId;
    }
  }
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
    ...(deps.executeAiColumnRun ? { executeAiColumnRun: deps.executeAiColumnRun } : {}),
    aiColumnRun: (actor, projectId, datasetId, runId) =>
      generation.getRun(actor, projectId, datasetId, runId),
    async cellTimings(actor, projectId, datasetId, columnId) {
      const timings: { latencyMs: number | null; attempts: number | null }[] = [];
      for await (const rows of windows(actor, projectId, datasetId, [columnId]))
        for (const row of rows) {
          const cell = row.cells[columnId];
          if (cell) timings.push({ latencyMs: cell.latencyMs, attempts: cell.attempts });
        }
      return timings;
    },
    documentCounts: async (actor, projectId, datasetId) =>
      (await documents.list(actor, projectId, datasetId)).counts,
    generate: (request) => llm.generate(request),
    async requireEditor(actor, projectId) {
      await deps.access.requireRole(actor, projectId, 'editor');
    },
    exportDataset: (actor, projectId, datasetId, format) =>
      deps.exports.exportDataset(actor, projectId, datasetId, { format, withMetadata: false }),
    async runFile(runId, stepId, format) {
      const folder = runFolder(runId);
      await mkdir(folder, { recursive: true, mode: 0o700 });
      return path.join(folder, `${stepId}.${format}`);
    },
    findAgent: (actor, projectId, agentId) =>
      deps.agents.getAgent(actor, projectId, agentId).then(
        ({ id, name, instructions, model, provider }) => ({
          id,
          name,
          instructions,
          model,
          provider,
        }),
        orUndefinedWhenNotFound,
      ),
    documentReader: (actor, projectId, datasetId) =>
      documents.collectionReader(actor, projectId, datasetId),
    findDocument: (actor, projectId, documentId) =>
      documents.get(actor, projectId, documentId).catch(orUndefinedWhenNotFound),
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
      for await (const page of windows(actor, projectId, datasetId, columnIds))
        for (const row of page)
          rows.push({
            rowId: row.rowId,
            values: Object.fromEntries(columnIds.map((id) => [id, row.cells[id]?.value ?? null])),
          });
      return rows;
    },
    async stageRows(actor, projectId, datasetId) {
      const stage = await sheets.stageRows(actor, projectId, datasetId);
      return {
        add: (rows, order) => stage.add(rows, order),
        replace: async (keyColumnId) => (await stage.replace(keyColumnId)).rowIds,
        drop: () => stage.drop(),
      };
    },
    async findRows(actor, projectId, datasetId, rowIds) {
      const dataset = await sheets
        .getDataset(actor, projectId, datasetId)
        .catch(orUndefinedWhenNotFound);
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
  const events = createRunEvents({ events: deps.events, store, runs: deps.platform.runs });
  deps.platform.runs.define(
    createWorkflowRun({
      store,
      runs: deps.platform.runs,
      ports,
      logger: deps.platform.logger.child({ module: 'workflows' }),
      events,
      bus: deps.events,
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
    events,
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
