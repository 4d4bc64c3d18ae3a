import { APPROVAL_PAUSE } from './workflow-run.ts';
import type { WorkflowDefinition } from './workflow-schema.ts';
import type { WorkflowStore } from './workflow-store.ts';

/** The fields of workflows and runs that leave the server (docs/workflows.md). */
type WorkflowRow = NonNullable<Awaited<ReturnType<WorkflowStore['find']>>>;
type RunRow = NonNullable<Awaited<ReturnType<WorkflowStore['findRun']>>>;
type RunListRow = Awaited<ReturnType<WorkflowStore['listRuns']>>[number];
type StepRow = Awaited<ReturnType<WorkflowStore['runSteps']>>[number];

const iso = (value: Date | null | undefined) => (value ? value.toISOString() : null);
const count = (value: number | string | null) => (value === null ? null : Number(value));

export function presentWorkflow(row: WorkflowRow, definition: WorkflowDefinition) {
  return {
    id: row.id,
    projectId: row.project_id,
    name: row.name,
    version: row.version,
    definition,
    createdAt: iso(row.created_at),
    updatedAt: iso(row.updated_at),
  };
}
export type WorkflowView = ReturnType<typeof presentWorkflow>;

/**
 * A run's status: the durable run's, except that a run paused for a person's decision is
 * `waiting-approval` (with the step in `waitingFor`).
 */
function statusOf(row: Pick<RunRow, 'status' | 'pause_reason'>) {
  const approval = row.status === 'paused' && row.pause_reason?.startsWith(APPROVAL_PAUSE);
  return {
    status: approval ? ('waiting-approval' as const) : row.status,
    waitingFor: approval ? row.pause_reason!.slice(APPROVAL_PAUSE.length) : null,
  };
}

function presentStep(row: StepRow, output: unknown) {
  return {
    id: row.step_id,
    kind: row.kind,
    position: row.position,
    status: row.status,
    attempts: row.attempts,
    startedAt: iso(row.started_at),
    finishedAt: iso(row.finished_at),
    durationMs: row.duration_ms,
    inputTokens: count(row.input_tokens),
    outputTokens: count(row.output_tokens),
    costNano: count(row.cost_nano),
    error: (row.error as { code: string; message: string } | null) ?? null,
    output: output ?? null,
  };
}

export function presentRunSummary(row: RunListRow | RunRow) {
  return {
    id: row.id,
    workflowId: row.workflow_id,
    version: row.version,
    ...statusOf(row),
    inputs: row.inputs,
    rerunOf: row.rerun_of,
    fromStep: row.from_step,
    createdAt: iso(row.created_at),
    startedAt: iso(row.started_at),
    finishedAt: iso(row.finished_at),
  };
}

export function presentRun(row: RunRow, steps: StepRow[], outputs: Map<string, unknown>) {
  const presented = steps.map((step) => presentStep(step, outputs.get(step.step_id)));
  const sum = (field: 'inputTokens' | 'outputTokens' | 'costNano') =>
    presented.reduce((total, step) => total + (step[field] ?? 0), 0);
  return {
    ...presentRunSummary(row),
    workflowName: row.workflow_name,
    error: (row.error as { code: string; message: string } | null) ?? null,
    failedStep: presented.find((step) => step.status === 'failed')?.id ?? null,
    steps: presented,
    totals: {
      inputTokens: sum('inputTokens'),
      outputTokens: sum('outputTokens'),
      costNano: sum('costNano'),
      durationMs: presented.reduce((total, step) => total + (step.durationMs ?? 0), 0),
    },
  };
}
export type WorkflowRunView = ReturnType<typeof presentRun>;
