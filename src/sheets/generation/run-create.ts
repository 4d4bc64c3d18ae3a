import type { Actor } from '../../access/actor.ts';
import { systemActor } from '../../auth/system-actor.ts';
import { conflict } from '../../platform/app-error.ts';
import { type ColumnRow, isUniqueViolation } from '../sheet-store.ts';
import { runScopeOf } from './generation-estimates.ts';
import { dependencyGraph, nextAiReaders, requireInputs, snapshotOf } from './generation-process.ts';
import { type ParsedRunRequest, runRequestSchema } from './generation-schema.ts';
import type { ProcessRow, RunRow } from './generation-store.ts';
import { creatorOf, insertRunAudited, publishRun, type RunUseCasesDeps } from './run-shared.ts';

/**
 * Creating runs: `createRun` (queued, or waiting for confirmation when it may cost more than
 * the threshold; estimated first), `queue` (hands a queued run to the engine) and
 * `startDownstream` (a finished run with `includeDownstream` refreshes the AI columns that read
 * its column).
 */
export function createRunCreation(deps: RunUseCasesDeps) {
  const { store, sheets, estimates, control } = deps;

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
      run = await insertRunAudited(
        deps,
        actor,
        {
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
        { columnId: process.column_id, mode: request.mode, cells: estimated.cells, status },
      );
    } catch (error) {
      if (isUniqueViolation(error)) throw conflict('A run is already in progress on this column');
      throw error;
    }
    publishRun(deps.events, run);
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
          { parentRunId: run.id, createdBy: run.created_by },
        );
      } catch (error) {
        deps.logger.info({ err: error, columnId }, 'downstream run not started');
      }
    }
  }

  return { createRun, queue, startDownstream };
}

export type RunCreation = ReturnType<typeof createRunCreation>;
