import { rename, stat, writeFile } from 'node:fs/promises';
import type { Actor } from '../access/actor.ts';
import type { LlmCallRequest, LlmCallResult } from '../llm/llm-service.ts';
import { AppError, conflict } from '../platform/app-error.ts';
import type { CellValue, ColumnType } from '../sheets/sheet-schema.ts';
import { datasetStream } from '../sheets/sheet-service.ts';
import type { StreamWatch } from './workflow-events.ts';
import { runExtraction } from './workflow-extract.ts';
import { type CellTiming, cellLatency } from './workflow-latency.ts';
import { type ReportOutput, reportHtml, writeReport } from './workflow-report.ts';
import type { DATASET_EXPORT_FORMATS, WorkflowStep } from './workflow-schema.ts';
import { renderTemplate, valueAt } from './workflow-template.ts';

/**
 * What steps call: other features' public use cases, adapted in workflows-module.ts. Steps
 * never reach a store; every call carries the run's actor, so access is checked again at
 * each step (a member removed since the run started stops it).
 */
export interface WorkflowPorts {
  runSql(
    actor: Actor,
    projectId: string,
    datasetId: string,
    sql: string,
  ): Promise<{
    columns: { name: string; type: string }[];
    rows: Record<string, unknown>[];
    truncated: boolean;
  }>;
  /** The dataset's columns; NOT_FOUND when it is missing (or not visible). */
  datasetColumns(
    actor: Actor,
    projectId: string,
    datasetId: string,
  ): Promise<{ id: string; name: string }[]>;
  startAiColumnRun(
    actor: Actor,
    projectId: string,
    datasetId: string,
    columnId: string,
    mode: 'missing' | 'all',
  ): Promise<{ id: string }>;
  /**
   * Executes an AI-column run in this process when no job workers will (the CLI's `--wait`);
   * absent on a server, whose workers take the run's job. Resolves when the run has settled.
   */
  executeAiColumnRun?(runId: string): Promise<void>;
  aiColumnRun(
    actor: Actor,
    projectId: string,
    datasetId: string,
    runId: string,
  ): Promise<AiColumnRunState>;
  /** Each cell of a column: the latency and provider attempts its state recorded. */
  cellTimings(
    actor: Actor,
    projectId: string,
    datasetId: string,
    columnId: string,
  ): Promise<CellTiming[]>;
  /** Documents of a collection by extraction status. */
  documentCounts(
    actor: Actor,
    projectId: string,
    datasetId: string,
  ): Promise<Record<string, number>>;
  generate(request: LlmCallRequest): Promise<LlmCallResult>;
  /** Throws unless the actor may edit the project (what a call with an `actor` checks each time). */
  requireEditor(actor: Actor, projectId: string): Promise<void>;
  /** Exports a dataset to a file of ours (the caller moves or removes it). */
  exportDataset(
    actor: Actor,
    projectId: string,
    datasetId: string,
    format: (typeof DATASET_EXPORT_FORMATS)[number],
  ): Promise<{ path: string; rows: number }>;
  /** Where a run keeps the file an `export` step wrote (the folder is made). */
  runFile(runId: string, stepId: string, format: string): Promise<string>;
  /** A chat agent of the project at its current version (undefined when there is none). */
  findAgent(actor: Actor, projectId: string, agentId: string): Promise<WorkflowAgent | undefined>;
  /**
   * A collection's documents — id, name, extraction status and row (null before extraction),
   * in the collection's order — and a reader of their text: each call reads the listed
   * documents' text, one string per page, by id. One access check for both.
   */
  documentReader(
    actor: Actor,
    projectId: string,
    datasetId: string,
  ): Promise<{
    documents: { id: string; name: string; status: string; rowId: string | null }[];
    pages(
      documents: readonly { id: string; rowId: string | null }[],
    ): Promise<Map<string, string[]>>;
  }>;
  /** A document of the project (undefined when there is none). */
  findDocument(
    actor: Actor,
    projectId: string,
    documentId: string,
  ): Promise<{ id: string; name: string; pages: number | null } | undefined>;
  /** Adds the columns the dataset lacks (by name); answers every listed column's id by name. */
  ensureColumns(
    actor: Actor,
    projectId: string,
    datasetId: string,
    columns: { name: string; type: ColumnType }[],
  ): Promise<Record<string, string>>;
  /** Every row of the dataset with the values of `columnIds`. */
  readRows(
    actor: Actor,
    projectId: string,
    datasetId: string,
    columnIds: string[],
  ): Promise<{ rowId: string; values: Record<string, unknown> }[]>;
  /**
   * A staged write of rows that replace the dataset's rows by a key column: `add` rows (each
   * with its place in the order) while the work runs — no read of the dataset sees them —
   * then `replace` deletes the rows holding their keys and inserts them in one write, and
   * answers the new rows' ids in order. `drop` at the end, whatever happened.
   */
  stageRows(
    actor: Actor,
    projectId: string,
    datasetId: string,
  ): Promise<{
    add(rows: Record<string, CellValue>[], order: readonly number[]): Promise<void>;
    replace(keyColumnId: string): Promise<string[]>;
    drop(): Promise<void>;
  }>;
  /** The dataset's name and which of `rowIds` exist; undefined when there is no such dataset. */
  findRows(
    actor: Actor,
    projectId: string,
    datasetId: string,
    rowIds: string[],
  ): Promise<{ name: string; rowIds: Set<string> } | undefined>;
}

/** What an `llm` step takes from a chat agent. */
export interface WorkflowAgent {
  id: string;
  name: string;
  instructions: string;
  model: string;
  provider: string | null;
}

export interface AiColumnRunState {
  status: string;
  progress: {
    total: number;
    done: number;
    errors: number;
    inputTokens: number;
    outputTokens: number;
    costNano: number;
  };
  error: { code: string; message: string } | null;
  startedAt?: string | null;
  finishedAt?: string | null;
}

/** Tokens and cost a step spent (left out when it made no LLM calls). */
export interface StepUsage {
  inputTokens: number;
  outputTokens: number;
  costNano: number;
}

export interface StepResult {
  output: unknown;
  usage?: StepUsage;
}

export interface StepEnvironment {
  actor: Actor;
  projectId: string;
  runId: string;
  inputs: Record<string, string>;
  /** Outputs of the steps run so far, by step id. */
  outputs: Record<string, unknown>;
  /** Aborted on cancel, pause, shutdown or the attempt's timeout. */
  signal: AbortSignal;
  ports: WorkflowPorts;
  /**
   * A checkpointed sub-step (the durable-run engine's `step`): not redone once finished.
   * `grouped`: one of many run side by side, whose checkpoint may share a statement.
   */
  checkpoint<T>(key: string, work: () => Promise<T>, options?: { grouped?: boolean }): Promise<T>;
  /** Watches a stream (a dataset's) to wake when work another feature runs changes. */
  watch(stream: string): Promise<StreamWatch>;
  /** Tells the run's live view how far a step got (items done of total). */
  progress(stepId: string, done: number, total: number): Promise<void>;
  /** The run's approval of an `approval` step, if decided. */
  approval(
    stepId: string,
  ): Promise<{ decision: 'approved' | 'rejected'; note: string } | undefined>;
  /** Parks the run until someone decides (the run is paused with reason `approval:<step>`). */
  awaitApproval(stepId: string): Promise<never>;
}

const POLL_MS = 500;

/** Runs one step once (the caller retries, times out and records it). */
export async function runStep(step: WorkflowStep, env: StepEnvironment): Promise<StepResult> {
  const scope = { inputs: env.inputs, steps: env.outputs };
  switch (step.kind) {
    case 'sql': {
      const result = await env.ports.runSql(env.actor, env.projectId, step.datasetId, step.sql);
      return { output: { ...result, rowCount: result.rows.length, datasetId: step.datasetId } };
    }
    case 'llm': {
      const agent = step.agentId ? await requireAgent(env, step.id, step.agentId) : undefined;
      const provider = step.provider ?? agent?.provider ?? undefined;
      const system = [agent?.instructions, step.system && renderTemplate(step.system, scope)]
        .filter((part) => part)
        .join('\n\n');
      const result = await env.ports.generate({
        actor: env.actor,
        projectId: env.projectId,
        feature: 'workflow',
        entityIds: {
          workflowRunId: env.runId,
          stepId: step.id,
          ...(agent ? { agentId: agent.id } : {}),
        },
        ...(provider ? { provider } : {}),
        // The definition check makes sure one of them is there.
        model: (step.model ?? agent?.model)!,
        messages: [
          ...(system ? [{ role: 'system' as const, content: system }] : []),
          { role: 'user' as const, content: renderTemplate(step.prompt, scope) },
        ],
        signal: env.signal,
      });
      return {
        output: { text: result.text, model: result.model, callId: result.callId },
        usage: {
          inputTokens:
            (result.usage.uncachedInputTokens ?? 0) +
            (result.usage.cacheReadTokens ?? 0) +
            (result.usage.cacheWriteTokens ?? 0),
          outputTokens: result.usage.outputTokens ?? 0,
          costNano: result.costNano ?? 0,
        },
      };
    }
    case 'report':
      return {
        output: await writeReport(env, {
          stepId: step.id,
          title: step.title,
          markdown: renderTemplate(step.markdown, scope),
          strict: step.strictCitations,
        }),
      };
    case 'extract':
      return runExtraction(step, env);
    case 'branch': {
      const actual = valueAt(env.outputs[step.when.step], step.when.path);
      return {
        output: { passed: compare(actual, step.when.op, step.when.value), actual: actual ?? null },
      };
    }
    case 'approval': {
      const decided = await env.approval(step.id);
      if (!decided) return env.awaitApproval(step.id);
      if (decided.decision === 'rejected')
        throw conflict(`Step "${step.id}" was rejected${decided.note ? `: ${decided.note}` : ''}`, {
          step: step.id,
        });
      return { output: decided };
    }
    case 'export':
      return { output: await exportFile(step, env) };
    case 'import-documents':
      return { output: await waitForExtraction(step, env) };
    case 'ai-column':
      return waitForAiColumn(step, env);
  }
}

/** Media types of the files an `export` step writes. */
export const EXPORT_MEDIA_TYPES: Record<string, string> = {
  csv: 'text/csv; charset=utf-8',
  tsv: 'text/tab-separated-values; charset=utf-8',
  jsonl: 'application/x-ndjson',
  parquet: 'application/vnd.apache.parquet',
  xlsx: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
  md: 'text/markdown; charset=utf-8',
  html: 'text/html; charset=utf-8',
};

/**
 * The `export` step: a dataset (through the sheets export use case, audited there) or a report
 * step's output, written as the run's file `<step>.<format>` (downloaded from
 * `…/workflow-runs/:id/files/:step`). A rerun of the step writes the file again.
 */
async function exportFile(step: Extract<WorkflowStep, { kind: 'export' }>, env: StepEnvironment) {
  const target = await env.ports.runFile(env.runId, step.id, step.format);
  let rows: number | null = null;
  if (step.datasetId) {
    const exported = await env.ports.exportDataset(
      env.actor,
      env.projectId,
      step.datasetId,
      step.format as (typeof DATASET_EXPORT_FORMATS)[number],
    );
    await rename(exported.path, target);
    rows = exported.rows;
  } else {
    const report = env.outputs[step.reportStep!] as ReportOutput | null | undefined;
    if (!report || typeof report.markdown !== 'string')
      throw conflict(`Step "${step.reportStep}" wrote no report to export`, { step: step.id });
    await writeFile(target, step.format === 'html' ? reportHtml(report) : report.markdown, {
      mode: 0o600,
    });
  }
  return {
    file: `${step.id}.${step.format}`,
    format: step.format,
    mediaType: EXPORT_MEDIA_TYPES[step.format],
    size: (await stat(target)).size,
    rows,
  };
}

/** The step's agent; deleted since the definition was saved (a forced delete) fails the step. */
async function requireAgent(env: StepEnvironment, stepId: string, agentId: string) {
  const agent = await env.ports.findAgent(env.actor, env.projectId, agentId);
  if (!agent)
    throw new AppError('NOT_FOUND', `Step "${stepId}" uses agent ${agentId}, which was deleted`, {
      details: { step: stepId, agentId },
    });
  return agent;
}

/** Equal, or equal as numbers ("3" from a text column equals 3; SQL sums may be bigints). */
function same(actual: unknown, expected: unknown): boolean {
  if (actual === expected) return true;
  if (actual === null || actual === undefined || expected === null || expected === undefined)
    return false;
  const [left, right] = [Number(actual), Number(expected)];
  return !Number.isNaN(left) && !Number.isNaN(right)
    ? left === right
    : String(actual) === String(expected);
}

function compare(actual: unknown, op: string, expected: unknown): boolean {
  if (op === 'truthy') return Boolean(actual) && !(Array.isArray(actual) && actual.length === 0);
  if (op === 'falsy') return !compare(actual, 'truthy', expected);
  if (op === 'eq') return same(actual, expected);
  if (op === 'ne') return !same(actual, expected);
  const [left, right] = [Number(actual), Number(expected)];
  if (Number.isNaN(left) || Number.isNaN(right)) return false;
  return op === 'gt'
    ? left > right
    : op === 'gte'
      ? left >= right
      : op === 'lt'
        ? left < right
        : left <= right;
}

async function waitForExtraction(
  step: Extract<WorkflowStep, { kind: 'import-documents' }>,
  env: StepEnvironment,
) {
  // An extracted document is appended to its collection (an event on the dataset's stream);
  // one that fails publishes nothing, so the poll stays as the fallback.
  const watch = await env.watch(datasetStream(step.datasetId));
  try {
    while (true) {
      const counts = await env.ports.documentCounts(env.actor, env.projectId, step.datasetId);
      const busy = (counts.queued ?? 0) + (counts.extracting ?? 0);
      const total = Object.values(counts).reduce((sum, count) => sum + count, 0);
      await env.progress(step.id, total - busy, total);
      if (busy === 0) {
        return { datasetId: step.datasetId, documents: total, counts };
      }
      await watch.next(POLL_MS, env.signal);
    }
  } finally {
    watch.close();
  }
}

async function waitForAiColumn(
  step: Extract<WorkflowStep, { kind: 'ai-column' }>,
  env: StepEnvironment,
) {
  // The AI-column run is started once (checkpointed), then followed: a resumed workflow waits
  // for the same run instead of starting another.
  const started = await env.checkpoint(`${step.id}/start`, () =>
    env.ports.startAiColumnRun(env.actor, env.projectId, step.datasetId, step.columnId, step.mode),
  );
  // The run publishes its progress on the dataset's stream: each event wakes the step.
  const watch = await env.watch(datasetStream(step.datasetId));
  // Without job workers (the CLI) nobody else would execute the run: it runs here, on a resumed
  // step too, and the loop below follows it as it would a server's. If executing it fails
  // outright (not the run failing: that is the run's status), the step fails with that error
  // instead of waiting for an executor that will never come.
  const execution: { error?: unknown } = {};
  const executing = env.ports.executeAiColumnRun?.(started.id).catch((error: unknown) => {
    execution.error = error ?? new Error('not executed');
  });
  try {
    return await followAiColumn(step, env, started.id, watch, execution);
  } finally {
    watch.close();
    await executing;
  }
}

async function followAiColumn(
  step: Extract<WorkflowStep, { kind: 'ai-column' }>,
  env: StepEnvironment,
  runId: string,
  watch: StreamWatch,
  execution: { error?: unknown },
) {
  const started = { id: runId };
  while (true) {
    const failedToExecute = execution.error;
    const run = await env.ports.aiColumnRun(env.actor, env.projectId, step.datasetId, started.id);
    const usage = {
      inputTokens: run.progress.inputTokens,
      outputTokens: run.progress.outputTokens,
      costNano: run.progress.costNano,
    };
    if (run.status === 'completed')
      return {
        // Tokens, cost and the run's wall time in the output, so a report can set models side by side.
        output: {
          runId: started.id,
          done: run.progress.done,
          errors: run.progress.errors,
          ...usage,
          durationMs:
            run.startedAt && run.finishedAt
              ? Date.parse(run.finishedAt) - Date.parse(run.startedAt)
              : null,
          ...(step.latency
            ? {
                latency: cellLatency(
                  await env.ports.cellTimings(
                    env.actor,
                    env.projectId,
                    step.datasetId,
                    step.columnId,
                  ),
                ),
              }
            : {}),
        },
        usage,
      };
    if (run.status === 'failed' || run.status === 'cancelled')
      throw new AppError(
        'CONFLICT',
        `The AI-column run ${run.status}${run.error ? `: ${run.error.message}` : ''}`,
        {
          details: { step: step.id, runId: started.id },
        },
      );
    if (failedToExecute) throw failedToExecute;
    await env.progress(step.id, run.progress.done + run.progress.errors, run.progress.total);
    await watch.next(POLL_MS, env.signal);
  }
}
