import { setTimeout as delay } from 'node:timers/promises';
import type { Actor } from '../access/actor.ts';
import { systemActor } from '../auth/system-actor.ts';
import { AppError, isAppError } from '../platform/app-error.ts';
import type { EventBus } from '../platform/events.ts';
import type { DurableRuns, RunContext, RunKind } from '../platform/jobs/durable-run.ts';
import { RunStopped } from '../platform/jobs/durable-run.ts';
import type { Logger } from '../platform/logger.ts';
import { type RunEvents, watchStream } from './workflow-events.ts';
import { planWorkflow, skippedBy, type WorkflowPlan } from './workflow-plan.ts';
import { definitionSchema, type WorkflowStep } from './workflow-schema.ts';
import { runStep, type StepEnvironment, type WorkflowPorts } from './workflow-steps.ts';
import type { StepProgress, WorkflowStore } from './workflow-store.ts';

/**
 * A workflow run on the durable-run engine (kind `workflows.run`). Each step of the pinned
 * version is one checkpoint (`step:<id>`), so a resumed run — after a crash, a pause, an
 * approval, a retry of a failed step — returns the stored output of every finished step and
 * goes on from the first unfinished one; a step is never executed again once finished.
 * Within a step: one attempt at a time under the step's timeout; a retryable error (a
 * provider 5xx or timeout the LLM router gave up on, a sandbox timeout) waits with
 * exponential backoff and tries again, `retries` times.
 */
export const WORKFLOW_RUN = 'workflows.run';

export interface WorkflowRunInput {
  runId: string;
}

export interface WorkflowRunOptions {
  store: WorkflowStore;
  runs: Pick<DurableRuns, 'steps'>;
  ports: WorkflowPorts;
  logger: Logger;
  /** The run's live stream: every status change of the run or a step is published. */
  events: RunEvents;
  /** The bus steps watch (a dataset's stream) while they follow another feature's work. */
  bus: Pick<EventBus, 'subscribe'>;
  /** First retry's wait (doubled each attempt, ±25% jitter, at most 30 s). Default 1 s. */
  retryBaseMs?: number;
  /** How a step waits (backoff, polls); tests record the waits instead. */
  wait?: (ms: number, signal: AbortSignal) => Promise<void>;
}

const stepKey = (stepId: string) => `step:${stepId}`;
export const APPROVAL_PAUSE = 'approval:';

/** The user a run acts for: access is checked again at every step. */
function actorFor(userId: string | null, runId: string): Actor {
  if (!userId) return systemActor();
  return {
    userId,
    isAdmin: false,
    via: 'session',
    scopes: ['read', 'write'],
    credentialId: `workflow-run:${runId}`,
  };
}

const errorRecord = (error: unknown) =>
  isAppError(error)
    ? {
        code: error.code,
        message: error.message,
        retryable: error.retryable,
        ...(error.details ? { details: error.details } : {}),
      }
    : { code: 'INTERNAL', message: 'The step failed', retryable: false };

export function createWorkflowRun(
  options: WorkflowRunOptions,
): RunKind<WorkflowRunInput, { steps: number }> {
  const { store, ports, logger, events, bus } = options;
  /** A step's new status, stored then published on the run's stream. */
  const recordStep = async (
    runId: string,
    where: { id: string; kind: string; position: number },
    progress: StepProgress,
  ) => {
    await store.recordStep(runId, where, progress);
    await events.changed(runId);
  };
  const retryBaseMs = options.retryBaseMs ?? 1_000;
  const wait = options.wait ?? ((ms, signal) => delay(ms, undefined, { signal }));

  const backoff = (attempt: number) => {
    const base = Math.min(30_000, retryBaseMs * 2 ** (attempt - 1));
    return Math.round(base * (0.75 + Math.random() * 0.5));
  };

  /** One step: attempts under its timeout, retried on retryable errors, recorded for the run view. */
  async function attemptStep(
    step: WorkflowStep,
    position: number,
    env: Omit<StepEnvironment, 'signal'>,
    runSignal: AbortSignal,
  ) {
    const where = { id: step.id, kind: step.kind, position };
    for (let attempt = 1; ; attempt++) {
      await recordStep(env.runId, where, { status: 'running', attempt: true });
      const timeout = AbortSignal.timeout(step.timeoutMs);
      try {
        const result = await runStep(step, {
          ...env,
          signal: AbortSignal.any([runSignal, timeout]),
        });
        await recordStep(env.runId, where, {
          status: 'completed',
          finished: true,
          usage: result.usage,
        });
        return result.output;
      } catch (caught) {
        if (caught instanceof RunStopped || runSignal.aborted) throw caught;
        const error =
          timeout.aborted && !isAppError(caught)
            ? new AppError('TIMEOUT', `Step "${step.id}" took longer than ${step.timeoutMs} ms`)
            : caught;
        const record = { ...errorRecord(error), step: step.id, attempt };
        if (isAppError(error) && error.retryable && attempt <= step.retries) {
          await recordStep(env.runId, where, { status: 'retrying', error: record });
          logger.info(
            { runId: env.runId, step: step.id, attempt, code: error.code },
            'workflow step retried',
          );
          await wait(backoff(attempt), runSignal);
          continue;
        }
        await recordStep(env.runId, where, {
          status: 'failed',
          finished: true,
          error: record,
        });
        throw isAppError(error)
          ? new AppError(error.code, `Step "${step.id}" failed: ${error.message}`, {
              details: { step: step.id, ...(error.details ?? {}) },
              retryable: error.retryable,
            })
          : new AppError('INTERNAL', `Step "${step.id}" failed`, { cause: error });
      }
    }
  }

  async function execute(context: RunContext<WorkflowRunInput>) {
    const { runId } = context.input;
    const run = await store.findRun(runId);
    if (!run) throw new AppError('NOT_FOUND', 'workflow run not found');
    const version = await store.findVersion(run.workflow_id, run.version);
    const parsed = definitionSchema.safeParse(version?.definition);
    const planned = parsed.success ? planWorkflow(parsed.data) : undefined;
    if (!planned?.plan)
      throw new AppError('INTERNAL', `Workflow version ${run.version} is not runnable`);
    const plan: WorkflowPlan = planned.plan;

    // A rerun from a step reuses the earlier steps' outputs of the run it copies.
    const reused = new Map<string, unknown>();
    if (run.rerun_of && run.from_step) {
      const source = new Map(
        (await options.runs.steps(run.rerun_of, { keyPrefix: 'step:' })).map((step) => [
          step.key,
          step,
        ]),
      );
      for (const step of plan.order) {
        if (step.id === run.from_step) break;
        const stored = source.get(stepKey(step.id));
        if (stored?.status === 'completed') reused.set(step.id, stored.output);
      }
    }

    await events.changed(runId);
    const outputs: Record<string, unknown> = {};
    const skipped = new Set<string>();
    const env: Omit<StepEnvironment, 'signal'> = {
      actor: actorFor(run.started_by, runId),
      projectId: run.project_id,
      runId,
      inputs: run.inputs,
      outputs,
      ports,
      checkpoint: (key, work, options) => context.step(key, work, options),
      watch: (stream) => watchStream(bus, stream, wait),
      progress: (stepId, done, total) => events.progress(runId, stepId, done, total),
      async approval(stepId) {
        const found = await store.findApproval(runId, stepId);
        return found ? { decision: found.decision, note: found.note } : undefined;
      },
      async awaitApproval(stepId) {
        const position = plan.order.findIndex((step) => step.id === stepId);
        await recordStep(runId, { id: stepId, kind: 'approval', position }, { status: 'waiting' });
        throw new RunStopped('paused', `${APPROVAL_PAUSE}${stepId}`);
      },
    };

    for (const [position, step] of plan.order.entries()) {
      const where = { id: step.id, kind: step.kind, position };
      if (skipped.has(step.id)) {
        await context.step(stepKey(step.id), async () => {
          await recordStep(runId, where, { status: 'skipped', finished: true });
          return null;
        });
        continue;
      }
      const output = reused.has(step.id)
        ? await context.step(stepKey(step.id), async () => {
            await recordStep(runId, where, { status: 'reused', finished: true });
            return reused.get(step.id);
          })
        : await context.step(stepKey(step.id), () =>
            attemptStep(step, position, env, context.signal),
          );
      outputs[step.id] = output;
      if (step.kind === 'branch' && !(output as { passed: boolean }).passed)
        for (const id of skippedBy(plan, step.skipIfFalse)) skipped.add(id);
    }
    return { steps: plan.order.length };
  }

  return {
    kind: WORKFLOW_RUN,
    concurrency: 4,
    execute,
    // The engine's outcome (completed, failed, paused, cancelled) reaches the live view.
    settled: (run) => events.changed(run.id),
  };
}
