import { sql, type Transaction } from 'kysely';
import type { DB } from '../migrations/db-schema.ts';
import type {
  WorkflowDb,
  WorkflowStepStatus,
  WorkflowTables,
  WorkflowUseTable,
} from './workflow-tables.ts';

/** Workflow queries: rows in, rows out (src/workflows/workflow-tables.ts types them). */
export type WorkflowStore = ReturnType<typeof createWorkflowStore>;
export type WorkflowTrx = Transaction<DB & WorkflowTables>;
export type WorkflowUse = Pick<WorkflowUseTable, 'target_kind' | 'target_id'>;

export interface StepProgress {
  status: WorkflowStepStatus;
  /** Adds one attempt (a step starting or retrying). */
  attempt?: boolean;
  finished?: boolean;
  usage?: { inputTokens: number; outputTokens: number; costNano: number } | undefined;
  error?: unknown;
}

const json = (value: unknown) => JSON.stringify(value ?? null);

export function createWorkflowStore(db: WorkflowDb) {
  const live = (projectId: string) =>
    db
      .selectFrom('workflow')
      .selectAll()
      .where('project_id', '=', projectId)
      .where('deleted_at', 'is', null);

  return {
    transaction: <T>(work: (trx: WorkflowTrx) => Promise<T>) => db.transaction().execute(work),

    list: (projectId: string) => live(projectId).orderBy('name').execute(),
    find: (projectId: string, workflowId: string) =>
      live(projectId).where('id', '=', workflowId).executeTakeFirst(),
    findByName: (projectId: string, name: string) =>
      live(projectId).where(sql<string>`lower(name)`, '=', name.toLowerCase()).executeTakeFirst(),
    findVersion: (workflowId: string, version: number) =>
      db
        .selectFrom('workflow_version')
        .selectAll()
        .where('workflow_id', '=', workflowId)
        .where('version', '=', version)
        .executeTakeFirst(),

    async insert(
      trx: WorkflowTrx,
      row: {
        id: string;
        projectId: string;
        name: string;
        definition: unknown;
        createdBy: string | null;
      },
    ) {
      await trx
        .insertInto('workflow')
        .values({
          id: row.id,
          project_id: row.projectId,
          name: row.name,
          created_by: row.createdBy,
        })
        .execute();
      await trx
        .insertInto('workflow_version')
        .values({
          workflow_id: row.id,
          version: 1,
          definition: json(row.definition),
          created_by: row.createdBy,
        })
        .execute();
    },

    /** Compare-and-set on the version: undefined when `baseVersion` is not the current one. */
    async addVersion(
      trx: WorkflowTrx,
      row: {
        id: string;
        baseVersion: number;
        name: string;
        definition: unknown;
        createdBy: string | null;
      },
    ) {
      const updated = await trx
        .updateTable('workflow')
        .set({ version: sql`version + 1`, name: row.name, updated_at: sql<Date>`now()` })
        .where('id', '=', row.id)
        .where('version', '=', row.baseVersion)
        .where('deleted_at', 'is', null)
        .returning('version')
        .executeTakeFirst();
      if (!updated) return undefined;
      await trx
        .insertInto('workflow_version')
        .values({
          workflow_id: row.id,
          version: updated.version,
          definition: json(row.definition),
          created_by: row.createdBy,
        })
        .execute();
      return updated.version;
    },

    softDelete: (trx: WorkflowTrx, workflowId: string) =>
      trx
        .updateTable('workflow')
        .set({ deleted_at: sql<Date>`now()`, updated_at: sql<Date>`now()` })
        .where('id', '=', workflowId)
        .execute(),

    /** What the workflow's current version uses (for delete protection). */
    async replaceUses(trx: WorkflowTrx, workflowId: string, uses: WorkflowUse[]) {
      await trx.deleteFrom('workflow_use').where('workflow_id', '=', workflowId).execute();
      if (uses.length > 0)
        await trx
          .insertInto('workflow_use')
          .values(uses.map((use) => ({ workflow_id: workflowId, ...use })))
          .onConflict((conflict) => conflict.doNothing())
          .execute();
    },
    usersOf: (targetKind: WorkflowUse['target_kind'], targetId: string) =>
      db
        .selectFrom('workflow_use')
        .innerJoin('workflow', 'workflow.id', 'workflow_use.workflow_id')
        .select(['workflow.id', 'workflow.name'])
        .where('workflow_use.target_kind', '=', targetKind)
        .where('workflow_use.target_id', '=', targetId)
        .where('workflow.deleted_at', 'is', null)
        .orderBy('workflow.name')
        .execute(),

    insertRun: (
      trx: WorkflowTrx,
      row: {
        id: string;
        workflowId: string;
        version: number;
        projectId: string;
        inputs: Record<string, string>;
        startedBy: string | null;
        rerunOf?: string | undefined;
        fromStep?: string | undefined;
      },
    ) =>
      trx
        .insertInto('workflow_run')
        .values({
          id: row.id,
          workflow_id: row.workflowId,
          version: row.version,
          project_id: row.projectId,
          inputs: json(row.inputs),
          started_by: row.startedBy,
          rerun_of: row.rerunOf ?? null,
          from_step: row.fromStep ?? null,
        })
        .execute(),

    /** A run with its durable run's status, flags and times. */
    findRun: (runId: string) =>
      db
        .selectFrom('workflow_run')
        .innerJoin('durable_run', 'durable_run.id', 'workflow_run.id')
        .innerJoin('workflow', 'workflow.id', 'workflow_run.workflow_id')
        .selectAll('workflow_run')
        .select([
          'workflow.name as workflow_name',
          'durable_run.status',
          'durable_run.pause_reason',
          'durable_run.error',
          'durable_run.started_at',
          'durable_run.finished_at',
        ])
        .where('workflow_run.id', '=', runId)
        .executeTakeFirst(),
    listRuns: (workflowId: string, limit: number) =>
      db
        .selectFrom('workflow_run')
        .innerJoin('durable_run', 'durable_run.id', 'workflow_run.id')
        .selectAll('workflow_run')
        .select([
          'durable_run.status',
          'durable_run.pause_reason',
          'durable_run.started_at',
          'durable_run.finished_at',
        ])
        .where('workflow_run.workflow_id', '=', workflowId)
        .orderBy('workflow_run.created_at', 'desc')
        .limit(limit)
        .execute(),

    runSteps: (runId: string) =>
      db
        .selectFrom('workflow_run_step')
        .selectAll()
        .where('run_id', '=', runId)
        .orderBy('position')
        .execute(),

    /** Records a step's progress for the run view (the durable run's `run_step` holds outputs). */
    async recordStep(
      runId: string,
      step: { id: string; kind: string; position: number },
      progress: StepProgress,
    ) {
      const finished = progress.finished ? sql<Date>`now()` : null;
      const usage = progress.usage;
      const values = {
        status: progress.status,
        finished_at: finished,
        error: progress.error === undefined ? null : json(progress.error),
        ...(usage
          ? {
              input_tokens: usage.inputTokens,
              output_tokens: usage.outputTokens,
              cost_nano: usage.costNano,
            }
          : {}),
      };
      await db
        .insertInto('workflow_run_step')
        .values({
          run_id: runId,
          step_id: step.id,
          position: step.position,
          kind: step.kind,
          attempts: progress.attempt ? 1 : 0,
          started_at: sql<Date>`now()`,
          ...values,
          duration_ms: progress.finished ? 0 : null,
        })
        .onConflict((conflict) =>
          conflict.columns(['run_id', 'step_id']).doUpdateSet({
            ...values,
            attempts: progress.attempt
              ? sql`workflow_run_step.attempts + 1`
              : sql`workflow_run_step.attempts`,
            started_at: sql<Date>`coalesce(workflow_run_step.started_at, now())`,
            duration_ms: progress.finished
              ? sql<number>`(extract(epoch from (now() - coalesce(workflow_run_step.started_at, now()))) * 1000)::int`
              : null,
          }),
        )
        .execute();
    },

    findApproval: (runId: string, stepId: string) =>
      db
        .selectFrom('workflow_approval')
        .select(['decision', 'note', 'decided_by', 'decided_at'])
        .where('run_id', '=', runId)
        .where('step_id', '=', stepId)
        .executeTakeFirst(),
    /** False when the step was decided before (the first decision stands). */
    async insertApproval(
      trx: WorkflowTrx,
      row: {
        runId: string;
        stepId: string;
        decision: 'approved' | 'rejected';
        note: string;
        decidedBy: string | null;
      },
    ) {
      const inserted = await trx
        .insertInto('workflow_approval')
        .values({
          run_id: row.runId,
          step_id: row.stepId,
          decision: row.decision,
          note: row.note,
          decided_by: row.decidedBy,
          decided_at: sql<Date>`now()`,
        })
        .onConflict((conflict) => conflict.doNothing())
        .returning('run_id')
        .executeTakeFirst();
      return inserted !== undefined;
    },
  };
}
