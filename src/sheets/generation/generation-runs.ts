import type { Actor } from '../../access/actor.ts';
import type { AuditRecorder } from '../../access/audit-recorder.ts';
import type { ProjectAccess } from '../../access/project-access.ts';
import { systemActor } from '../../auth/system-actor.ts';
import type { DurableRunStatus } from '../../migrations/db-schema.ts';
import { conflict } from '../../platform/app-error.ts';
import type { EventBus } from '../../platform/events.ts';
import { uuidv7 } from '../../platform/ids.ts';
import type { ExecuteOutcome, RunRecord } from '../../platform/jobs/durable-run.ts';
import type { Logger } from '../../platform/logger.ts';
import { datasetStream, type SheetService } from '../sheet-service.ts';
import { type ColumnRow, isUniqueViolation } from '../sheet-store.ts';
import { type Estimates, runScopeOf } from './generation-estimates.ts';
import type { GenerationLoaders } from './generation-loaders.ts';
import { releaseOrphanedCells } from './generation-orphans.ts';
import { presentRun } from './generation-presenter.ts';
import { dependencyGraph, nextAiReaders, requireInputs, snapshotOf } from './generation-process.ts';
import type { LiveProgress } from './generation-runner.ts';
import { type ParsedRunRequest, type RunRequest, runRequestSchema } from './generation-schema.ts';
import type { RunScope } from './generation-scope.ts';
import {
  type GenerationStore,
  type ProcessRow,
  type RunRow,
  TERMINAL_STATUSES,
} from './generation-store.ts';

/**
 * Run use cases of AI columns and generated rows: start (with its estimate), confirm, pause,
 * resume, cancel, list and read runs, start the downstream columns of a finished run, and
 * `settleRun`, which the job calls once the durable-run engine has settled a run. A run has
 * two records: `generation_run`, the view these use cases and the UI read (scope, estimate,
 * counters, waiting, status), and the durable run (same id) whose lease, heartbeat and
 * cancel/pause flags the engine keeps. The use cases reach the engine through `RunControl`.
 */
export interface RunControl {
  /** Makes a queued run execute: a new durable run with its id, or its own queued again. */
  queue(run: RunRow): Promise<void>;
  /** Asks its durable run to stop; answers the durable run's status after the request. */
  requestCancel(runId: string): Promise<DurableRunStatus | undefined>;
  requestPause(runId: string): Promise<DurableRunStatus | undefined>;
  /** Live figures of a run executing in this process. */
  live(runId: string): LiveProgress | undefined;
  /** The column's process changed: its runs executing here go on with the new version. */
  processChanged(runIds: readonly string[]): void;
}

export interface RunUseCasesDeps {
  store: GenerationStore;
  sheets: SheetService;
  access: ProjectAccess;
  audit: AuditRecorder;
  events: EventBus;
  logger: Logger;
  estimates: Estimates;
  loaders: GenerationLoaders;
  control: RunControl;
}

const creatorOf = (actor: Actor) => (actor.via === 'system' ? null : actor.userId);
const isTerminal = (status: RunRow['status']) =>
  (TERMINAL_STATUSES as readonly string[]).includes(status);

/** A run's figures on the dataset stream (`run-progress`), as it stands. */
export function publishRun(events: EventBus, run: RunRow) {
  events.publish(datasetStream(run.dataset_id), {
    type: 'run-progress',
    data: {
      runId: run.id,
      columnId: run.column_id,
      status: run.status,
      total: run.total,
      done: run.done,
      errors: run.errors,
      conflicts: run.conflicts,
      duplicates: run.duplicates,
      cacheHits: run.cache_hits,
      inputTokens: Number(run.input_tokens),
      outputTokens: Number(run.output_tokens),
      costNano: Number(run.cost_nano),
      waiting: null,
    },
    coalesceKey: `run:${run.id}`,
  });
}

/**
 * Cancels a run. One nobody executes (awaiting confirmation, queued, paused, or left running
 * by a worker that died) ends at once and lets go of its cells (`ended`); an executing one is
 * asked to stop through its durable run, on whichever server holds it, and `settleRun` ends it
 * within a heartbeat. `error` is kept on the run (why it was stopped). Undefined: it had
 * already ended.
 */
export async function stopRun(
  deps: {
    store: GenerationStore;
    sheets: SheetService;
    control: Pick<RunControl, 'requestCancel'>;
  },
  runId: string,
  error?: { code: string; message: string },
): Promise<{ run: RunRow; ended: boolean } | undefined> {
  const view = await deps.store.findRun(runId);
  if (!view || isTerminal(view.status)) return undefined;
  const durable = view.durable_run_id ? await deps.control.requestCancel(runId) : undefined;
  if (durable === 'completed' || durable === 'failed') return undefined;
  if (durable === 'running') {
    const asked = error ? await deps.store.updateRun(runId, { error }) : view;
    return { run: asked ?? view, ended: false };
  }
  const ended = await deps.store.transitionRun(
    runId,
    ['awaiting-confirmation', 'queued', 'paused', 'running'],
    { status: 'cancelled', finished_at: new Date(), waiting: null, ...(error ? { error } : {}) },
  );
  if (!ended) return undefined;
  if (view.status === 'running') await releaseOrphanedCells(deps, view);
  await deps.store.deleteRunCells(runId);
  return { run: ended, ended: true };
}

export function createRunUseCases(deps: RunUseCasesDeps) {
  const { store, sheets, access, audit, events, estimates, loaders, control } = deps;
  const publish = (run: RunRow) => publishRun(events, run);

  /** Hands a queued run to the engine; a run that could not be queued says so. */
  async function queue(run: RunRow) {
    try {
      await control.queue(run);
    } catch (error) {
      await store.updateRun(run.id, {
        status: 'failed',
        error: { code: 'INTERNAL', message: 'The run could not be queued' },
      });
      throw error;
    }
  }

  /** Creates a run (queued, or waiting for confirmation when it may cost more than the threshold). */
  async function createRun(
    actor: Actor,
    process: ProcessRow,
    columns: readonly ColumnRow[],
    request: ParsedRunRequest,
    options: { parentRunId?: string; createdBy?: string | null } = {},
  ) {
    const snapshot = snapshotOf(process, columns);
    requireInputs(snapshot, columns);
    if (request.mode !== 'cells') {
      const running = await store.findActiveRun(process.column_id);
      if (running)
        throw conflict('A run is already in progress on this column; pause, resume or cancel it', {
          runId: running.id,
        });
    }
    const surveyed = await estimates.survey(
      snapshot,
      runScopeOf(request),
      request.mode === 'range' ? request.range : undefined,
    );
    const estimated = await estimates.estimate(snapshot, surveyed);
    const needsConfirmation = estimated.confirmationRequired && !request.confirm;
    const status: RunRow['status'] = needsConfirmation
      ? 'awaiting-confirmation'
      : estimated.cells === 0
        ? 'completed'
        : 'queued';
    let run: RunRow;
    try {
      run = await store.transaction(async (trx) => {
        const inserted = await store.insertRun(
          {
            id: uuidv7(),
            project_id: process.project_id,
            dataset_id: process.dataset_id,
            column_id: process.column_id,
            kind: 'column',
            mode: request.mode,
            scope: JSON.stringify(surveyed.scope),
            status,
            process_version: process.version,
            estimate: JSON.stringify(estimated),
            total: estimated.cells,
            max_row_id:
              surveyed.scope.maxRowId === undefined ? null : Number(surveyed.scope.maxRowId),
            parent_run_id: options.parentRunId ?? null,
            created_by: options.createdBy === undefined ? creatorOf(actor) : options.createdBy,
            ...(status === 'completed' ? { finished_at: new Date() } : {}),
          },
          trx,
        );
        await audit.record(trx, {
          actor,
          action: 'generation-run.create',
          entityType: 'generation_run',
          entityId: inserted.id,
          projectId: process.project_id,
          summary: {
            columnId: process.column_id,
            mode: request.mode,
            cells: estimated.cells,
            status,
          },
        });
        return inserted;
      });
    } catch (error) {
      if (isUniqueViolation(error)) throw conflict('A run is already in progress on this column');
      throw error;
    }
    publish(run);
    if (status === 'queued') await queue(run);
    if (status === 'completed' && request.includeDownstream) await startDownstream(run);
    return run;
  }

  /** After a run with `includeDownstream`: refresh the AI columns that read this one. */
  async function startDownstream(run: RunRow) {
    if (!run.column_id) return;
    const actor = systemActor();
    const { columns } = await sheets.requireDataset(
      actor,
      run.project_id,
      run.dataset_id,
      'editor',
    );
    const processes = await store.listProcesses(run.dataset_id);
    const graph = dependencyGraph(columns, processes);
    const readers = nextAiReaders(
      graph,
      run.column_id,
      new Set(processes.map((process) => process.column_id)),
    );
    for (const columnId of readers) {
      const process = processes.find((candidate) => candidate.column_id === columnId)!;
      try {
        await createRun(
          actor,
          process,
          columns,
          runRequestSchema.parse({ mode: 'outdated', includeDownstream: true, confirm: true }),
          {
            parentRunId: run.id,
            createdBy: run.created_by,
          },
        );
      } catch (error) {
        deps.logger.info({ err: error, columnId }, 'downstream run not started');
      }
    }
  }

  /**
   * The engine settled a run (the job calls this): its view follows — status, pause reason,
   * the engine's error for a failed run — and viewers are told. Cells a dead worker left
   * `generating` are released first; a completed run asked for its downstream columns starts
   * them.
   */
  async function settleRun(record: RunRecord, outcome: ExecuteOutcome) {
    const view = await store.findRun(record.id);
    if (!view) return;
    const orphaned = view.status === 'running';
    let ended: RunRow | undefined;
    switch (outcome) {
      case 'completed':
        ended = await store.updateRun(view.id, {
          status: 'completed',
          waiting: null,
          finished_at: new Date(),
        });
        await store.deleteRunCells(view.id);
        break;
      case 'failed':
        ended = await store.updateRun(view.id, {
          status: 'failed',
          waiting: null,
          finished_at: new Date(),
          error: record.error ?? { code: 'INTERNAL', message: 'The run failed' },
        });
        break;
      case 'cancelled':
        if (orphaned) await releaseOrphanedCells({ store, sheets }, view);
        ended = await store.updateRun(view.id, {
          status: 'cancelled',
          waiting: null,
          finished_at: new Date(),
        });
        await store.deleteRunCells(view.id);
        break;
      case 'paused':
        if (orphaned) await releaseOrphanedCells({ store, sheets }, view);
        ended = await store.updateRun(view.id, {
          status: 'paused',
          waiting: null,
          pause_reason: record.pauseReason === 'budget' ? 'budget' : 'user',
        });
        break;
      case 'requeued':
        ended = await store.updateRun(view.id, { status: 'queued', waiting: null });
        break;
      default:
        return;
    }
    if (!ended) return;
    publish(ended);
    if (outcome === 'completed' && (ended.scope as RunScope).includeDownstream)
      await startDownstream(ended).catch((error: unknown) => {
        deps.logger.warn({ err: error, runId: ended.id }, 'could not start the downstream runs');
      });
  }

  return {
    createRun,
    startDownstream,
    settleRun,

    async startRun(
      actor: Actor,
      projectId: string,
      datasetId: string,
      columnId: string,
      request: RunRequest = {},
    ) {
      await access.requireRole(actor, projectId, 'editor');
      const parsed = runRequestSchema.parse(request);
      const { columns, process } = await loaders.loadColumn(
        actor,
        projectId,
        datasetId,
        columnId,
        'editor',
      );
      const run = await createRun(actor, process, columns, parsed);
      return presentRun(run, control.live(run.id));
    },

    async listRuns(
      actor: Actor,
      projectId: string,
      datasetId: string,
      options: { columnId?: string; limit?: number } = {},
    ) {
      await sheets.requireDataset(actor, projectId, datasetId, 'viewer');
      const runs = await store.listRuns(datasetId, options);
      return runs.map((run) => presentRun(run, control.live(run.id)));
    },

    /** A run with its progress: done/total, errors, tokens, cost so far, rate, ETA. */
    async getRun(actor: Actor, projectId: string, datasetId: string, runId: string) {
      const run = await loaders.loadRun(actor, projectId, datasetId, runId, 'viewer');
      return presentRun(run, control.live(run.id));
    },

    /**
     * Cancels a run: calls in flight are aborted and their cells go back to their previous
     * state (a running run finishes that within a moment; the answer may still say running).
     */
    async cancelRun(actor: Actor, projectId: string, datasetId: string, runId: string) {
      const run = await loaders.loadRun(actor, projectId, datasetId, runId, 'editor');
      const stopped = await stopRun({ store, sheets, control }, runId);
      if (!stopped) throw conflict(`The run is already ${run.status}`, { status: run.status });
      if (stopped.ended) publish(stopped.run);
      await audit.record(store.db, {
        actor,
        action: 'generation-run.cancel',
        entityType: 'generation_run',
        entityId: runId,
        projectId,
      });
      return presentRun(stopped.run, control.live(runId));
    },

    /** Pauses a run: no new calls; calls in flight are aborted and their cells restored. */
    async pauseRun(actor: Actor, projectId: string, datasetId: string, runId: string) {
      const run = await loaders.loadRun(actor, projectId, datasetId, runId, 'editor');
      if (run.status !== 'queued' && run.status !== 'running')
        throw conflict(`The run is ${run.status}`, { status: run.status });
      // The engine pauses a run nobody executes at once; an executing one stops at its next
      // heartbeat, on whichever server holds it (settleRun then marks it paused).
      const durable = run.durable_run_id ? await control.requestPause(runId) : 'paused';
      let result: RunRow | undefined = run;
      if (durable === 'paused') {
        result = await store.transitionRun(runId, ['queued', 'running'], {
          status: 'paused',
          pause_reason: 'user',
          waiting: null,
        });
        if (!result) throw conflict(`The run is ${run.status}`, { status: run.status });
        // Left running by a worker that died: its cells go back to what they were.
        if (run.status === 'running') await releaseOrphanedCells({ store, sheets }, run);
        publish(result);
      } else if (durable !== 'running')
        throw conflict(`The run is ${durable ?? run.status}`, { status: durable ?? run.status });
      await audit.record(store.db, {
        actor,
        action: 'generation-run.pause',
        entityType: 'generation_run',
        entityId: runId,
        projectId,
      });
      return presentRun(result, control.live(runId));
    },

    /** Resumes a paused (or failed) run where it stopped; a budget pause resumes once the budget allows. */
    async resumeRun(actor: Actor, projectId: string, datasetId: string, runId: string) {
      const run = await loaders.loadRun(actor, projectId, datasetId, runId, 'editor');
      let result: RunRow | undefined;
      try {
        result = await store.transitionRun(runId, ['paused', 'failed'], {
          status: 'queued',
          pause_reason: null,
          error: null,
          finished_at: null,
        });
      } catch (error) {
        if (isUniqueViolation(error)) throw conflict('Another run is in progress on this column');
        throw error;
      }
      if (!result) throw conflict(`The run is ${run.status}`, { status: run.status });
      await audit.record(store.db, {
        actor,
        action: 'generation-run.resume',
        entityType: 'generation_run',
        entityId: runId,
        projectId,
      });
      publish(result);
      await queue(result);
      return presentRun(result);
    },

    /** Starts a run that waited for confirmation of its estimated cost. */
    async confirmRun(actor: Actor, projectId: string, datasetId: string, runId: string) {
      const run = await loaders.loadRun(actor, projectId, datasetId, runId, 'editor');
      let result: RunRow | undefined;
      try {
        result = await store.transitionRun(runId, ['awaiting-confirmation'], { status: 'queued' });
      } catch (error) {
        if (isUniqueViolation(error)) throw conflict('Another run is in progress on this column');
        throw error;
      }
      if (!result) throw conflict(`The run is ${run.status}`, { status: run.status });
      await audit.record(store.db, {
        actor,
        action: 'generation-run.confirm',
        entityType: 'generation_run',
        entityId: runId,
        projectId,
        summary: { estimate: run.estimate },
      });
      publish(result);
      await queue(result);
      return presentRun(result);
    },

    /** System use case (CLI): a run created and then executed in this process. */
    createRunForCli: async (
      actor: Actor,
      projectId: string,
      datasetId: string,
      columnId: string,
      request: RunRequest,
    ) => {
      await access.requireRole(actor, projectId, 'editor');
      const parsed = runRequestSchema.parse(request);
      const { columns, process } = await loaders.loadColumn(
        actor,
        projectId,
        datasetId,
        columnId,
        'editor',
      );
      return createRun(actor, process, columns, parsed);
    },
  };
}

export type RunUseCases = ReturnType<typeof createRunUseCases>;
