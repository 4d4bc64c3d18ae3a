import type { RunStep, WorkflowRun } from './workflow-api.ts';

/** A step as the timeline shows it: a step of the run, or one of its version not reached yet. */
export type TimelineStep = Omit<RunStep, 'status'> & { status: RunStep['status'] | 'pending' };

/** The run's steps, then the steps of its version not reached yet (when that version is known). */
export function timelineOf(
  run: WorkflowRun,
  definitionSteps: { id: string; kind: string }[] | undefined,
): TimelineStep[] {
  const seen = new Set(run.steps.map((step) => step.id));
  const pending: TimelineStep[] = (definitionSteps ?? [])
    .filter((step) => !seen.has(step.id))
    .map((step, index) => ({
      id: step.id,
      kind: step.kind,
      position: run.steps.length + index,
      status: 'pending',
      attempts: 0,
      startedAt: null,
      finishedAt: null,
      durationMs: null,
      inputTokens: null,
      outputTokens: null,
      costNano: null,
      error: null,
      output: null,
    }));
  return [...run.steps, ...pending];
}
