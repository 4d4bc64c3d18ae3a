import { api } from './api-client.ts';
import { datasetPath } from './sheet-api.ts';

export type OutputSpec =
  | { type: 'text' }
  | { type: 'number' }
  | { type: 'boolean' }
  | { type: 'category'; categories: string[] }
  | { type: 'json'; schema: Record<string, unknown> };

export interface ProcessFields {
  prompt: string;
  instructions?: string;
  provider?: string;
  model: string;
  parameters?: { temperature?: number; maxOutputTokens?: number; topP?: number };
  output?: OutputSpec;
  search?: { enabled: boolean; query?: string };
}

export interface AiProcess extends Required<Omit<ProcessFields, 'provider' | 'search'>> {
  id: string;
  columnId: string;
  version: number;
  provider: string | null;
  search: { enabled: boolean; query?: string } | null;
  inputColumnIds: string[];
  /** A column the prompt reads was deleted: runs are refused until the prompt is edited. */
  needsPromptEdit: boolean;
  createdAt: string;
  updatedAt: string;
}

export type RunMode = 'all' | 'empty' | 'range' | 'errors' | 'stale' | 'outdated' | 'cells';
export type RunStatus =
  | 'awaiting-confirmation'
  | 'queued'
  | 'running'
  | 'paused'
  | 'completed'
  | 'failed'
  | 'cancelled';
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

export interface RunEstimate {
  cells: number;
  /** `bypass`: every cell is asked of the model again (a regenerate); `use`: the cache may answer. */
  cache?: 'use' | 'bypass';
  /** Cells expected from the response cache (no cost, no wait). */
  expectedCacheHits?: number;
  /** Cells the model is expected to be asked for (what cost and duration count). */
  modelCalls?: number;
  sampled: number;
  inputTokensPerCell: number;
  outputTokensPerCell: number;
  inputTokens: number;
  outputTokens: number;
  costNano: number | null;
  durationSeconds: number;
  concurrency: number;
  concurrencyLimitedBy?: 'provider' | 'server';
  confirmationRequired: boolean;
  confirmAboveNano: number;
  examplesAvailable: number;
  basis: { outputTokens: 'default' | 'observed'; latency: 'default' | 'observed' };
}

export interface Run {
  id: string;
  datasetId: string;
  /** Null for a run that generates new rows. */
  columnId: string | null;
  kind: string;
  mode: RunMode;
  status: RunStatus;
  /** Of a completed run: `done`, or `errors` when some cells failed ("Finished with N errors"). */
  outcome?: 'done' | 'errors' | null;
  pauseReason: string | null;
  /** Set while a rate-limited run waits to resume by itself. */
  waiting?: RunWaiting | null;
  estimate: RunEstimate | null;
  progress: {
    total: number;
    done: number;
    errors: number;
    conflicts: number;
    processed: number;
    cacheHits: number;
    inputTokens: number;
    outputTokens: number;
    costNano: number;
    inFlight: number;
    cellsPerSecond: number;
    etaSeconds: number | null;
  };
  error: { code: string; message: string; details?: unknown } | null;
  createdAt: string | null;
  startedAt: string | null;
  finishedAt: string | null;
}

/** A running run waiting out a provider's rate limiting (it resumes by itself at `until`). */
export interface RunWaiting {
  reason: 'rate-limited';
  until: string;
  provider: string | null;
  providerName: string | null;
  message: string;
}

/** The `run-progress` event on the dataset stream (a subset of Run, flat). */
export interface RunProgressEvent {
  runId: string;
  /** Absent or null for a run that generates new rows. */
  columnId?: string | null;
  status: RunStatus;
  total: number;
  done: number;
  errors: number;
  /** Absent on runs that generate new rows. */
  conflicts?: number;
  costNano?: number;
  cellsPerSecond?: number;
  etaSeconds?: number | null;
  inFlight?: number;
  /** Null when the run is not waiting; absent on events that do not say. */
  waiting?: RunWaiting | null;
}

export interface Provenance {
  rowId: string;
  columnId: string;
  value: unknown;
  status: string;
  error: string | null;
  raw: string | null;
  model: string | null;
  inputTokens: number | null;
  outputTokens: number | null;
  costNanoUsd: number | null;
  latencyMs: number | null;
  attempts: number | null;
  sources: { url?: unknown; title?: unknown; snippet?: unknown }[];
  updatedAt: string | null;
  /** Whether the cell was made by the current prompt version from the current inputs. */
  current: { processVersion: number; upToDate: boolean };
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

export interface PromptPreview {
  rows: {
    rowId: string;
    position: number;
    messages: { role: 'system' | 'user' | 'assistant'; content: string }[];
    missingColumns: string[];
  }[];
  omitted: ('few-shot-examples' | 'search-results' | 'variety-note')[];
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
