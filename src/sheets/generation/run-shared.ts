import type { Insertable } from 'kysely';
import type { Actor } from '../../access/actor.ts';
import type { AuditRecorder } from '../../access/audit-recorder.ts';
import type { ProjectAccess } from '../../access/project-access.ts';
import type { DurableRunStatus, GenerationRunTable } from '../../migrations/db-schema.ts';
import type { EventBus } from '../../platform/events.ts';
import { uuidv7 } from '../../platform/ids.ts';
import type { Logger } from '../../platform/logger.ts';
import { datasetStream, type SheetService } from '../sheet-service.ts';
import type { Estimates } from './generation-estimates.ts';
import type { GenerationLoaders } from './generation-loaders.ts';
import { type LiveProgress, runTotalsOf } from './generation-run-common.ts';
import { type GenerationStore, type RunRow, TERMINAL_STATUSES } from './generation-store.ts';

/**
 * What the run use cases (run-*.ts) share. A run has two records: `generation_run`, the view
 * these use cases and the UI read (scope, estimate, counters, waiting, status), and the durable
 * run (same id) whose lease, heartbeat and cancel/pause flags the engine keeps. The use cases
 * reach the engine through `RunControl`.
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

export const creatorOf = (actor: Actor) => (actor.via === 'system' ? null : actor.userId);
export const isTerminal = (status: RunRow['status']) =>
  (TERMINAL_STATUSES as readonly string[]).includes(status);

/**
 * A new run (its id made here) and its `generation-run.create` audit entry, in one
 * transaction.
 */
export function insertRunAudited(
  deps: Pick<RunUseCasesDeps, 'store' | 'audit'>,
  actor: Actor,
  row: Omit<Insertable<GenerationRunTable>, 'id'>,
  summary: Record<string, unknown>,
): Promise<RunRow> {
  return deps.store.transaction(async (trx) => {
    const inserted = await deps.store.insertRun({ id: uuidv7(), ...row }, trx);
    await deps.audit.record(trx, {
      actor,
      action: 'generation-run.create',
      entityType: 'generation_run',
      entityId: inserted.id,
      projectId: row.project_id,
      summary,
    });
    return inserted;
  });
}

/** A run's figures on the dataset stream (`run-progress`), as it stands. */
export function publishRun(events: EventBus, run: RunRow) {
  events.publish(datasetStream(run.dataset_id), {
    type: 'run-progress',
    data: {
      runId: run.id,
      columnId: run.column_id,
      status: run.status,
      total: run.total,
      ...runTotalsOf(run),
      waiting: null,
    },
    coalesceKey: `run:${run.id}`,
  });
}
