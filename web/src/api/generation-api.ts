import type {
  AiProcessView,
  OutputSpecView,
  PromptPreviewView,
  ProvenanceView,
  RunEstimateView,
  RunMode,
  RunProgressEventView,
  RunStatus,
  RunView,
  RunWaitingView,
} from '../../../src/shared/api-types.ts';
import { api } from './api-client.ts';
import { datasetPath } from './sheet-api.ts';

// The wire shapes come from the server's shared module (its presenters are typed with them).
export type { RunMode, RunStatus } from '../../../src/shared/api-types.ts';
export type OutputSpec = OutputSpecView;
export type AiProcess = AiProcessView;
export type Run = RunView;
export type RunWaiting = RunWaitingView;
export type RunEstimate = RunEstimateView;
export type RunProgressEvent = RunProgressEventView;
export type Provenance = ProvenanceView;
export type PromptPreview = PromptPreviewView;

export interface ProcessFields {
  prompt: string;
  instructions?: string;
  provider?: string;
  model: string;
  parameters?: { temperature?: number; maxOutputTokens?: number; topP?: number };
  output?: OutputSpec;
  search?: { enabled: boolean; query?: string };
}

export const ACTIVE_RUN_STATUSES: readonly RunStatus[] = [
  'awaiting-confirmation',
  'queued',
  'running',
  'paused',
];

export interface RunRequest {
  mode: RunMode;
  rowIds?: string[];
  range?: { from: number; to: number };
  includeValidated?: boolean;
  includeDownstream?: boolean;
  fresh?: boolean;
  confirm?: boolean;
}

/** A draft prompt rendered for the first rows, without calling a model. */
export interface PromptPreviewRequest {
  prompt: string;
  instructions?: string;
  output?: OutputSpec;
  /** The AI column being edited; absent for a new one (then `columnName`). */
  columnId?: string;
  columnName?: string;
  rows?: number;
}

/** `POST …/generate-rows`: N new rows from a description (a durable run). */
export interface GenerateRowsRequest {
  description: string;
  count: number;
  /** Static columns to fill; all of them when absent. */
  columnIds?: string[];
  provider?: string;
  model: string;
}

const enc = encodeURIComponent;
const aiPath = (projectId: string, datasetId: string, columnId?: string) =>
  `${datasetPath(projectId, datasetId)}/ai-columns${columnId ? `/${enc(columnId)}` : ''}`;
const runPath = (projectId: string, datasetId: string, runId: string) =>
  `${datasetPath(projectId, datasetId)}/runs/${enc(runId)}`;

export const generationApi = {
  create: (
    projectId: string,
    datasetId: string,
    input: ProcessFields & { name: string; run?: boolean; confirm?: boolean },
  ) =>
    api<{ column: { id: string }; process: AiProcess; run: Run | null }>(
      aiPath(projectId, datasetId),
      { method: 'POST', body: input },
    ),
  get: (projectId: string, datasetId: string, columnId: string) =>
    api<{ process: AiProcess; dependsOn: string[]; usedBy: string[]; activeRun: Run | null }>(
      aiPath(projectId, datasetId, columnId),
    ),
  update: (
    projectId: string,
    datasetId: string,
    columnId: string,
    input: Omit<Partial<ProcessFields>, 'search'> & { search?: ProcessFields['search'] | null },
  ) =>
    api<{ process: AiProcess; staleCells: number }>(aiPath(projectId, datasetId, columnId), {
      method: 'PATCH',
      body: input,
    }),
  preview: (projectId: string, datasetId: string, columnId: string, request: RunRequest) =>
    api<RunEstimate>(`${aiPath(projectId, datasetId, columnId)}/preview`, {
      method: 'POST',
      body: request,
    }),
  previewPrompt: (
    projectId: string,
    datasetId: string,
    request: PromptPreviewRequest,
    signal?: AbortSignal,
  ) =>
    api<PromptPreview>(`${aiPath(projectId, datasetId)}/preview-prompt`, {
      method: 'POST',
      body: request,
      ...(signal ? { signal } : {}),
    }),
  startRun: (projectId: string, datasetId: string, columnId: string, request: RunRequest) =>
    api<Run>(`${aiPath(projectId, datasetId, columnId)}/runs`, { method: 'POST', body: request }),
  provenance: (projectId: string, datasetId: string, columnId: string, rowId: string) =>
    api<Provenance>(`${aiPath(projectId, datasetId, columnId)}/cells/${enc(rowId)}/provenance`),
  runs: (projectId: string, datasetId: string, columnId?: string) =>
    api<{ items: Run[] }>(`${datasetPath(projectId, datasetId)}/runs`, {
      query: { columnId, limit: 20 },
    }),
  run: (projectId: string, datasetId: string, runId: string) =>
    api<Run>(runPath(projectId, datasetId, runId)),
  generateRows: (projectId: string, datasetId: string, request: GenerateRowsRequest) =>
    api<Run>(`${datasetPath(projectId, datasetId)}/generate-rows`, {
      method: 'POST',
      body: request,
    }),
  action: (
    projectId: string,
    datasetId: string,
    runId: string,
    action: 'cancel' | 'pause' | 'resume' | 'confirm',
  ) => api<Run>(`${runPath(projectId, datasetId, runId)}/${action}`, { method: 'POST' }),
};
