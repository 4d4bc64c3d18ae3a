import { api } from '../api/api-client.ts';

/**
 * The workflows API (docs/workflows.md) as the web app calls it. The shapes mirror the server's
 * presenters (src/workflows/workflow-presenter.ts) and definition schema (workflow-schema.ts).
 */

export const STEP_KINDS = [
  'import-documents',
  'ai-column',
  'extract',
  'sql',
  'llm',
  'branch',
  'approval',
  'report',
  'export',
] as const;
export type StepKind = (typeof STEP_KINDS)[number];

export const COMPARISON_OPS = ['eq', 'ne', 'gt', 'gte', 'lt', 'lte', 'truthy', 'falsy'] as const;
export type ComparisonOp = (typeof COMPARISON_OPS)[number];

interface StepBase {
  id: string;
  name?: string;
  needs?: string[];
  retries?: number;
  timeoutMs?: number;
}

/** The fields an `extract` step reads (src/workflows/workflow-schema.ts, a JSON Schema object). */
export interface ExtractionSchema {
  type?: 'object';
  properties: Record<
    string,
    { type: 'string' | 'number' | 'integer' | 'boolean'; format?: 'date'; description?: string }
  >;
}

export type WorkflowStep = StepBase &
  (
    | { kind: 'import-documents'; datasetId: string }
    | { kind: 'ai-column'; datasetId: string; columnId: string; mode?: 'missing' | 'all' }
    | {
        kind: 'extract';
        documentsDatasetId: string;
        datasetId: string;
        schema: ExtractionSchema;
        instructions?: string;
        provider?: string;
        model: string;
        contextChars?: number;
        mode?: 'missing' | 'all';
        concurrency?: number;
      }
    | { kind: 'sql'; datasetId: string; sql: string }
    | {
        kind: 'llm';
        /** A chat agent of the project: its instructions, and its model unless one is named. */
        agentId?: string;
        provider?: string;
        model?: string;
        system?: string;
        prompt: string;
      }
    | {
        kind: 'branch';
        when: {
          step: string;
          path: string;
          op: ComparisonOp;
          value?: string | number | boolean | null;
        };
        skipIfFalse: string[];
      }
    | { kind: 'approval'; message: string }
    | { kind: 'report'; title: string; markdown: string }
    | { kind: 'export'; datasetId?: string; reportStep?: string; format: ExportFormat }
  );

/** What an `export` step writes (src/workflows/workflow-schema.ts): a dataset's formats… */
export const DATASET_EXPORT_FORMATS = ['csv', 'tsv', 'jsonl', 'parquet', 'xlsx'] as const;
/** …and a report step's. */
export const REPORT_EXPORT_FORMATS = ['md', 'html'] as const;
export type ExportFormat =
  | (typeof DATASET_EXPORT_FORMATS)[number]
  | (typeof REPORT_EXPORT_FORMATS)[number];

export interface WorkflowDefinition {
  description?: string;
  inputs?: { name: string; default?: string }[];
  steps: WorkflowStep[];
}

export interface Workflow {
  id: string;
  projectId: string;
  name: string;
  version: number;
  definition: WorkflowDefinition;
  createdAt: string | null;
  updatedAt: string | null;
}

export type RunStatus =
  | 'queued'
  | 'running'
  | 'paused'
  | 'waiting-approval'
  | 'completed'
  | 'failed'
  | 'cancelled';

export type StepStatus =
  | 'running'
  | 'retrying'
  | 'waiting'
  | 'completed'
  | 'reused'
  | 'skipped'
  | 'failed';

export interface StepError {
  code: string;
  message: string;
  retryable?: boolean;
  requestId?: string;
  details?: unknown;
}

export interface RunStep {
  id: string;
  kind: string;
  position: number;
  status: StepStatus;
  attempts: number;
  startedAt: string | null;
  finishedAt: string | null;
  durationMs: number | null;
  inputTokens: number | null;
  outputTokens: number | null;
  costNano: number | null;
  error: StepError | null;
  output: unknown;
}

export interface RunSummary {
  id: string;
  workflowId: string;
  version: number;
  status: RunStatus;
  waitingFor: string | null;
  inputs: Record<string, string>;
  rerunOf: string | null;
  fromStep: string | null;
  createdAt: string | null;
  startedAt: string | null;
  finishedAt: string | null;
}

export interface WorkflowRun extends RunSummary {
  workflowName: string;
  error: StepError | null;
  failedStep: string | null;
  steps: RunStep[];
  totals: { inputTokens: number; outputTokens: number; costNano: number; durationMs: number };
}

const enc = encodeURIComponent;
const workflowsPath = (projectId: string) => `/api/projects/${enc(projectId)}/workflows`;
const workflowPath = (projectId: string, workflowId: string) =>
  `${workflowsPath(projectId)}/${enc(workflowId)}`;
const runPath = (projectId: string, runId: string) =>
  `/api/projects/${enc(projectId)}/workflow-runs/${enc(runId)}`;

/** A template's input, as the picker asks for it (src/workflows/workflow-templates.ts). */
export interface TemplateField {
  name: string;
  label: string;
  type: 'text' | 'prompt' | 'model' | 'provider' | 'dataset' | 'documents' | 'boolean' | 'number';
  required: boolean;
  help?: string;
}

export interface WorkflowTemplate {
  template: string;
  title: string;
  description: string;
  fields: TemplateField[];
}

/** What a template would make first, in a preview. */
export type TemplateCreation =
  | { kind: 'documents'; name: string; documents: number }
  | { kind: 'dataset'; name: string; columns: string[] }
  | { kind: 'ai-column'; datasetId: string; name: string; model: string };

export interface TemplatePreview {
  template: string;
  name: string;
  creates: TemplateCreation[];
  steps: { id: string; kind: StepKind; name?: string }[];
}

export type TemplateRequest = { template: string } & Record<string, string | number | boolean>;

export const workflowApi = {
  templates: (projectId: string) =>
    api<{ items: WorkflowTemplate[] }>(`${workflowsPath(projectId)}/templates`),
  previewTemplate: (projectId: string, request: TemplateRequest) =>
    api<TemplatePreview>(`${workflowsPath(projectId)}/from-template/preview`, {
      method: 'POST',
      body: request,
    }),
  fromTemplate: (projectId: string, request: TemplateRequest) =>
    api<Workflow>(`${workflowsPath(projectId)}/from-template`, { method: 'POST', body: request }),
  /** The run's live stream (Server-Sent Events: run-updated, step-progress). */
  eventsUrl: (projectId: string, runId: string) => `${runPath(projectId, runId)}/events`,
  /** The file an `export` step of the run wrote (an attachment). */
  fileUrl: (projectId: string, runId: string, stepId: string) =>
    `${runPath(projectId, runId)}/files/${enc(stepId)}`,
  list: (projectId: string) => api<{ items: Workflow[] }>(workflowsPath(projectId)),
  get: (projectId: string, workflowId: string) =>
    api<Workflow>(workflowPath(projectId, workflowId)),
  create: (projectId: string, input: { name: string; definition: WorkflowDefinition }) =>
    api<Workflow>(workflowsPath(projectId), { method: 'POST', body: input }),
  update: (
    projectId: string,
    workflowId: string,
    input: { baseVersion: number; name?: string; definition: WorkflowDefinition },
  ) => api<Workflow>(workflowPath(projectId, workflowId), { method: 'PUT', body: input }),
  remove: (projectId: string, workflowId: string) =>
    api<void>(workflowPath(projectId, workflowId), { method: 'DELETE' }),
  runs: (projectId: string, workflowId: string) =>
    api<{ items: RunSummary[] }>(`${workflowPath(projectId, workflowId)}/runs`, {
      query: { limit: 20 },
    }),
  start: (projectId: string, workflowId: string, inputs: Record<string, string>) =>
    api<WorkflowRun>(`${workflowPath(projectId, workflowId)}/runs`, {
      method: 'POST',
      body: { inputs },
    }),
  run: (projectId: string, runId: string) => api<WorkflowRun>(runPath(projectId, runId)),
  act: (projectId: string, runId: string, action: 'cancel' | 'pause' | 'resume') =>
    api<WorkflowRun>(`${runPath(projectId, runId)}/${action}`, { method: 'POST', body: {} }),
  rerun: (projectId: string, runId: string, fromStep: string) =>
    api<WorkflowRun>(`${runPath(projectId, runId)}/rerun`, {
      method: 'POST',
      body: { fromStep },
    }),
  decide: (
    projectId: string,
    runId: string,
    stepId: string,
    decision: 'approved' | 'rejected',
    note: string,
  ) =>
    api<WorkflowRun>(`${runPath(projectId, runId)}/steps/${enc(stepId)}/decision`, {
      method: 'POST',
      body: { decision, note },
    }),
};
