import { randomUUID } from 'node:crypto';
import { type Kysely, type RawBuilder, sql, type UpdateObject } from 'kysely';
import type { DB, DurableRunStatus } from '../../migrations/db-schema.ts';
import { AppError } from '../app-error.ts';
import { retryOutage } from '../db/db-outage.ts';
import { PREPARED } from '../db/pglite-driver.ts';
import { grouped } from '../grouped.ts';
import { uuidv7 } from '../ids.ts';
import type { Logger } from '../logger.ts';
import type { JobQueue } from './job-queue.ts';

/**
 * The one durable-run engine (DESIGN.md): long work — an AI-column run, a chat reply, a
 * workflow — as a row in `durable_run` that any server can execute, with
 *   - a **lease** (owner + expiry, extended by a heartbeat — one statement for every run a
 *     process executes): one executor at a time, and a run whose executor died is taken over
 *     once its lease has run out;
 *   - **cancel and pause flags** in the database, seen at every step and heartbeat, so a
 *     request on one server stops a run on another, and a paused run stays paused across
 *     restarts;
 *   - **recovery**: `recover()` (at start and periodically) queues runs whose lease expired —
 *     embedded, every `running` run is an orphan of the previous process;
 *   - **step checkpoints** in `run_step`: `context.step(key, work)` runs `work` once; a run
 *     that resumes (after a crash, a pause, a restart) gets the stored output of a completed
 *     step instead of doing it again. A step interrupted mid-way is run again (attempts + 1),
 *     so a step's side effects must be idempotent or guarded (compare-and-set). A step costs
 *     two statements: one begins it (reads the flags and any stored output, marks it running),
 *     one records it; steps a run does side by side are begun and recorded in groups, each
 *     group one statement (group commit: what comes while one is written goes in the next);
 *     The statements that only mark progress — taking the lease, the heartbeat, beginning a step —
 *     commit without waiting for the WAL flush (`synchronous_commit` off for that transaction;
 *     the step records, the run's creation and its end wait for it as before): an app process
 *     killed changes nothing (PostgreSQL keeps what it committed), and a PostgreSQL server that
 *     crashes within its WAL writer's delay can only lose such a mark — the run is then taken
 *     again, or a step's record finds no begun step and stops as a lost lease, never a step
 *     recorded twice or skipped (WAL is written in order: a later record flushes the marks
 *     before it). In the first execution of a run no step can have been recorded before, so a
 *     step's work starts while its begin is under way (its record waits for the begin);
 *   - **progress counters** (`context.count`) written with the heartbeat;
 *   - **shutdown**: `stop()` aborts what runs here and hands it back (`queued`) for the next
 *     start or another server.
 * pg-boss only carries "run X should be executing" (one queue per kind); the row decides, so
 * a duplicate job finds the run taken or finished and returns.
 */
export interface RunRecord {
  id: string;
  kind: string;
  projectId: string | null;
  status: DurableRunStatus;
  input: unknown;
  progress: Record<string, number>;
  result: unknown;
  error: { code: string; message: string } | null;
  pauseReason: string | null;
  cancelRequested: boolean;
  pauseRequested: boolean;
  executions: number;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
}

export interface StepRecord {
  key: string;
  status: 'running' | 'completed' | 'failed';
  attempts: number;
  inputHash: string | null;
  output: unknown;
  error: { code: string; message: string } | null;
}

/**
 * Why a run stopped before its end; the engine settles the run accordingly. A kind may throw
 * one itself (a budget ran out: `new RunStopped('paused', 'budget')`); `pauseReason` is then
 * stored on the paused run.
 */
export class RunStopped extends Error {
  readonly reason: 'cancelled' | 'paused' | 'lease-lost' | 'shutdown';
  readonly pauseReason: string | undefined;
  constructor(reason: RunStopped['reason'], pauseReason?: string) {
    super(`run ${reason}`);
    this.name = 'RunStopped';
    this.reason = reason;
    this.pauseReason = pauseReason;
  }
}

export interface RunContext<Input> {
  readonly run: RunRecord;
  readonly input: Input;
  /** Aborted (reason: a RunStopped) on cancel, pause, a lost lease or shutdown. */
  readonly signal: AbortSignal;
  /**
   * A checkpointed step: `work` runs unless this run already completed `key` (with the same
   * `inputHash`, when given), in which case its stored output comes back. Outputs are stored
   * as JSON, so return plain data.
   */
  step<T>(
    key: string,
    work: () => Promise<T>,
    options?: {
      inputHash?: string;
      /**
       * One of many steps the run does side by side (an extract step's documents): its begin
       * and its record may wait a few milliseconds (`GROUP_LINGER_MS`) for others to share
       * their statement. The guarantees are the same; the step only takes a little longer.
       */
      grouped?: boolean;
    },
  ): Promise<T>;
  /** Adds to the run's counters (written with the next heartbeat and at the end). */
  count(delta: Record<string, number>): void;
  /** Throws the RunStopped the run has been asked for, if any. */
  throwIfStopped(): void;
}

export interface RunKind<Input, Output> {
  /** `feature.verb`; also the name of its pg-boss queue. */
  kind: string;
  execute(context: RunContext<Input>): Promise<Output>;
  /** Runs of this kind one process executes at once. */
  concurrency?: number;
  /**
   * Told once the engine has settled a run this process acquired (not when another server
   * took it over): a feature that keeps its own view of a run (AI columns' `generation_run`)
   * follows the engine's outcome here — including runs stopped before `execute` was called
   * (recovered with a cancel or pause already asked for).
   */
  settled?(run: RunRecord, outcome: ExecuteOutcome): Promise<void>;
}

export type ExecuteOutcome =
  | 'completed'
  | 'failed'
  | 'cancelled'
  | 'paused'
  | 'requeued'
  | 'lease-lost'
  | 'skipped';

export interface StartOptions<Input> {
  kind: string;
  input: Input;
  projectId?: string | null;
  /** The run's id (default: a new UUIDv7): a feature may give its own record's id. */
  id?: string;
  /**
   * The caller executes the run here at once (`execute`) when it can: if this process runs
   * workers and the kind has a free slot here, the run is created already leased to it
   * (`status: 'running'`) and no job is sent — no queue round trip, no second statement to
   * take it; a process that dies before executing it leaves it to recovery, as any run it
   * held. Otherwise (an API-only server, no free slot) the run is queued as usual
   * (`status: 'queued'`) and a worker takes it. `'caller'`: reserved even in a process that
   * runs no workers (the CLI, which executes its run itself), when the kind has a free slot.
   */
  reserve?: boolean | 'caller';
}

/**
 * A run whose row the caller inserts in a statement of its own (`DurableRuns.prepare`): a
 * feature that writes its records and starts their run in one round trip.
 */
export interface PreparedRun {
  readonly id: string;
  /** Whether the run will be created reserved for this process (see `reserve`). */
  readonly reserved: boolean;
  /**
   * `insert into durable_run (…) select … from <source> returning *`: the run's row, once per
   * row of `source` (a CTE of the caller's statement that has one row, or none to start nothing).
   */
  insertFrom(source: RawBuilder<unknown>): RawBuilder<unknown>;
  /**
   * After the caller's statement committed: the inserted row as the statement returned it
   * (`to_jsonb`), or undefined when it inserted none, or the statement failed (the reservation is
   * given back). Sends a queued run's job.
   */
  started(row: Record<string, unknown> | undefined): Promise<RunRecord | undefined>;
}

export interface DurableRuns {
  /** Registers a kind (before the job queue starts). */
  define<Input, Output>(definition: RunKind<Input, Output>): void;
  start<Input>(options: StartOptions<Input>): Promise<RunRecord>;
  /** `start` with the run's insert handed to the caller, who runs it in its own statement. */
  prepare<Input>(options: StartOptions<Input>): PreparedRun;
  /** Whether `start({ kind, reserve })` would reserve a run here now (a hint). */
  wouldReserve(kind: string, reserve?: true | 'caller'): boolean;
  get(runId: string): Promise<RunRecord | undefined>;
  /** The run's steps in the order they began (only the keys starting with `keyPrefix`, when given). */
  steps(runId: string, options?: { keyPrefix?: string }): Promise<StepRecord[]>;
  /** Queued or paused: cancelled at once. Running: its executor stops at its next step. */
  requestCancel(runId: string): Promise<RunRecord | undefined>;
  /** Queued: paused at once. Running: its executor stops at its next step. */
  requestPause(runId: string, reason?: string): Promise<RunRecord | undefined>;
  /** Paused or failed → queued again (its completed steps are not redone). */
  resume(runId: string): Promise<RunRecord | undefined>;
  /**
   * Executes a run here if nobody else holds it (what the job handler calls), or a run `start`
   * reserved for this process.
   */
  execute(runId: string): Promise<ExecuteOutcome>;
  /** Queues runs that should be executing but are not; answers how many. */
  recover(options?: { allRunningAreOrphans?: boolean }): Promise<number>;
  /**
   * Once the job queue runs: queues what a stopped process left (embedded, every running run
   * is its orphan), then, on a shared PostgreSQL, looks again every lease period.
   */
  startRecovery(options: { embedded: boolean }): Promise<void>;
  /** Aborts the runs executing here and hands them back (`queued`); stops recovery. */
  stop(): Promise<void>;
  /** Runs executing in this process now. */
  readonly active: ReadonlySet<string>;
}

export interface DurableRunOptions {
  db: Kysely<DB>;
  /** Absent: runs are executed only by calling `execute` (tests, the CLI). */
  jobs?: JobQueue | undefined;
  logger: Logger;
  /** Who holds the lease (default: a random id per process). */
  owner?: string;
  /** A lease lasts this long without a heartbeat (default 60 s). */
  leaseMs?: number;
  /**
   * How often the executor renews its lease, saves progress and reads the run's flags
   * (default a third of the lease): how soon a cancel asked on another server is seen.
   */
  heartbeatMs?: number;
  /**
   * Whether `start({ reserve: true })` may reserve runs for this process (default: when the job
   * queue runs workers here).
   */
  executesRuns?: boolean;
}

type RunRow = Awaited<ReturnType<typeof selectRun>>;
function selectRun(db: Kysely<DB>, runId: string) {
  return db.selectFrom('durable_run').selectAll().where('id', '=', runId).executeTakeFirst();
}

/**
 * The least string above every string that starts with `prefix`, in code-point order (UTF-8's
 * byte order, which `run_step.step_key`'s collation "C" compares by); undefined when there is
 * none (an empty prefix, or one of only U+10FFFF).
 */
export function prefixSuccessor(prefix: string): string | undefined {
  const points = [...prefix];
  while (points.length > 0) {
    const last = points.pop()!.codePointAt(0)!;
    if (last < 0x10ffff)
      // Surrogates are not characters (PostgreSQL's UTF-8 has none): past them.
      return points.join('') + String.fromCodePoint(last === 0xd7ff ? 0xe000 : last + 1);
  }
  return undefined;
}

/**
 * A run's steps in the order they began; with `keyPrefix`, only the keys that start with it, read
 * as a range of the primary key (`step_key >= prefix and < its successor`, migration 1090), so
 * a run view that wants a workflow's `step:` keys does not read an extract step's thousand
 * per-document ones. `%` and `_` are plain characters here (no LIKE).
 */
export function selectSteps(db: Kysely<DB>, runId: string, keyPrefix?: string) {
  const end = keyPrefix ? prefixSuccessor(keyPrefix) : undefined;
  return db
    .selectFrom('run_step')
    .selectAll()
    .where('run_id', '=', runId)
    .$if(Boolean(keyPrefix), (query) => query.where('step_key', '>=', keyPrefix!))
    .$if(end !== undefined, (query) => query.where('step_key', '<', end!))
    .orderBy('started_at');
}

/**
 * A group's begin, one statement (durable runs' `step`): the run's flags, the stored output of
 * each step already completed (with the same input hash, when given), and — only while the run
 * is still ours to go on — every other step marked running (attempts + 1 when it was begun
 * before). The steps are looked up by primary key (`step_key = any(…)`): joined with the
 * record set alone, the planner read every row of the run (a function's rows are estimated at
 * 100), so each group of an extract step's thousand documents cost as much as the run was long.
 */
export function beginStepsStatement(
  runId: string,
  owner: string,
  wanted: readonly { key: string; inputHash: string | null }[],
) {
  const keys = JSON.stringify(
    wanted.map(({ key, inputHash }) => ({ step_key: key, input_hash: inputHash })),
  );
  return sql<{
    held: boolean;
    cancel_requested: boolean;
    pause_requested: boolean;
    done: Record<string, unknown> | null;
  }>`
        ${PREPARED}with async_commit as (${ASYNC_COMMIT}),
        run as (
          select coalesce(lease_owner = ${owner}, false) as held, cancel_requested, pause_requested
          from durable_run where id = ${runId}
        ),
        wanted as (
          select distinct on (step_key) step_key, input_hash
          from jsonb_to_recordset(${keys}::jsonb) as w(step_key text, input_hash text)
        ),
        done as (
          select rs.step_key, rs.output from run_step rs
          join wanted on wanted.step_key = rs.step_key
          where rs.run_id = ${runId} and rs.step_key = any(array(select step_key from wanted))
            and rs.status = 'completed'
            and (wanted.input_hash is null or rs.input_hash = wanted.input_hash)
        ),
        begun as (
          insert into run_step (run_id, step_key, status, input_hash, started_at)
          select ${runId}::uuid, wanted.step_key, 'running', wanted.input_hash, now()
          from wanted, run
          where run.held and not run.cancel_requested and not run.pause_requested
            and not exists (select 1 from done where done.step_key = wanted.step_key)
          on conflict (run_id, step_key) do update set
            status = 'running', attempts = run_step.attempts + 1,
            input_hash = excluded.input_hash, output = null, error = null,
            started_at = now(), finished_at = null
        )
        select run.held, run.cancel_requested, run.pause_requested,
          (select jsonb_object_agg(step_key, output) from done) as done
        from run, async_commit`;
}

/**
 * A group's record, one statement: each step completed with its output, only while the run is
 * still held by `owner`. Looked up by primary key, as the begin (above).
 */
export function recordStepsStatement(
  runId: string,
  owner: string,
  steps: readonly { key: string; output: unknown }[],
) {
  const outputs = JSON.stringify(
    steps.map(({ key, output }) => ({ step_key: key, output: output ?? null })),
  );
  const keys = JSON.stringify(steps.map(({ key }) => key));
  return sql`
        ${PREPARED}update run_step rs
        set status = 'completed', output = coalesce(r.output, 'null'::jsonb), finished_at = now()
        from jsonb_to_recordset(${outputs}::jsonb) as r(step_key text, output jsonb)
        where rs.run_id = ${runId}
          and rs.step_key = any(array(select jsonb_array_elements_text(${keys}::jsonb)))
          and rs.step_key = r.step_key
          and exists (select 1 from durable_run where id = ${runId} and lease_owner = ${owner})
      `;
}

const RUN_DATES = [
  'created_at',
  'updated_at',
  'started_at',
  'finished_at',
  'lease_expires_at',
] as const;

/** A run's row from its JSON (`to_jsonb(durable_run)`): timestamps back to dates. */
function runFromJson(json: Record<string, unknown>): NonNullable<RunRow> {
  const row = { ...json };
  for (const column of RUN_DATES)
    if (typeof row[column] === 'string') row[column] = new Date(row[column] as string);
  return row as NonNullable<RunRow>;
}

const present = (row: NonNullable<RunRow>): RunRecord => ({
  id: row.id,
  kind: row.kind,
  projectId: row.project_id,
  status: row.status,
  input: row.input,
  progress: (row.progress ?? {}) as Record<string, number>,
  result: row.result ?? null,
  error: (row.error ?? null) as RunRecord['error'],
  pauseReason: row.pause_reason,
  cancelRequested: row.cancel_requested,
  pauseRequested: row.pause_requested,
  executions: row.executions,
  createdAt: row.created_at,
  startedAt: row.started_at,
  finishedAt: row.finished_at,
});

const errorRecord = (error: unknown) =>
  error instanceof AppError
    ? { code: error.code, message: error.message }
    : { code: 'INTERNAL', message: 'The run failed' };

const json = (value: unknown) => JSON.stringify(value ?? null);

/** A run given back to the queue with no lease: recovered from a dead worker, or handed back on stop. */
const QUEUED_AGAIN = {
  status: 'queued',
  lease_owner: null,
  lease_expires_at: null,
  updated_at: sql<Date>`now()`,
} satisfies UpdateObject<DB, 'durable_run'>;

/** How long a `grouped` step's begin or record waits for others to share its statement. */
const GROUP_LINGER_MS = 10;

/** Tries of a settling write through a dry pool (~40 s of waits at the longest). */
const SETTLE_TRIES = 25;

/**
 * A statement's transaction commits without waiting for the WAL flush: for the marks the engine
 * can lose to a PostgreSQL crash without harm (see the header). `set_config(…, true)` lasts
 * for the statement's own transaction only, so it never leaks to the pooled connection.
 */
const ASYNC_COMMIT = sql`select set_config('synchronous_commit', 'off', true) as async_commit`;

export function createDurableRuns(options: DurableRunOptions): DurableRuns {
  const { db, logger } = options;
  const owner = options.owner ?? `${process.pid}-${randomUUID()}`;
  const leaseMs = options.leaseMs ?? 60_000;
  const heartbeatMs = options.heartbeatMs ?? leaseMs / 3;
  const lease = sql<Date>`now() + make_interval(secs => ${leaseMs / 1000})`;
  const kinds = new Map<string, RunKind<unknown, unknown>>();
  const active = new Map<string, AbortController>();
  /** The kind of each run executing (or reserved) here, for the kinds' slots. */
  const activeKinds = new Map<string, string>();
  /** Runs `start` reserved for this process, not yet executing. */
  const reserved = new Map<string, NonNullable<RunRow>>();
  const executesRuns = options.executesRuns ?? options.jobs?.works === true;
  const busySlots = (kind: string) => {
    let busy = 0;
    for (const running of activeKinds.values()) if (running === kind) busy++;
    return busy;
  };
  /** Whether a run of `kind` started with `reserve` is reserved here (a slot is free). */
  const reservable = (kind: string, reserve: boolean | 'caller') =>
    (reserve === 'caller' || (reserve && executesRuns)) &&
    busySlots(kind) < (kinds.get(kind)?.concurrency ?? 1);
  const settling = new Set<Promise<unknown>>();
  let sweeper: NodeJS.Timeout | undefined;

  const sendJob = async (kind: string, runId: string) => {
    if (options.jobs) await options.jobs.send(kind, { runId });
  };

  /** What the heartbeat keeps of each run executing here. */
  interface Beating {
    progress: Record<string, number>;
    /** Counters changed since the last heartbeat. */
    dirty: boolean;
    stopWith(reason: RunStopped['reason']): void;
  }
  const running = new Map<string, Beating>();
  let beat: NodeJS.Timeout | undefined;
  /**
   * One statement for every run executing here: renews their leases, saves the counters that
   * changed and reads their flags; a run that is no longer ours, or was asked to stop, stops.
   */
  const heartbeat = async () => {
    const beating = [...running];
    if (beating.length === 0) return;
    const entries = JSON.stringify(
      beating.map(([id, run]) => {
        const changed = run.dirty ? run.progress : null;
        run.dirty = false;
        return { id, progress: changed };
      }),
    );
    // A mark too (see the header): a renewal or counters a PostgreSQL crash loses are renewed
    // or rewritten by the next beat, and the counters are written again when the run settles.
    const { rows } = await sql<{ id: string; cancel_requested: boolean; pause_requested: boolean }>`
      with async_commit as (${ASYNC_COMMIT})
      update durable_run run
      set lease_expires_at = ${lease}, updated_at = now(),
        progress = coalesce(beat.progress, run.progress)
      from jsonb_to_recordset(${entries}::jsonb) as beat(id uuid, progress jsonb), async_commit
      where run.id = beat.id and run.lease_owner = ${owner}
        and async_commit.async_commit is not null
      returning run.id, run.cancel_requested, run.pause_requested
    `.execute(db);
    const flags = new Map(rows.map((row) => [row.id, row]));
    for (const [id, run] of beating) {
      if (running.get(id) !== run) continue; // settled meanwhile
      const row = flags.get(id);
      if (!row) run.stopWith('lease-lost');
      else if (row.cancel_requested) run.stopWith('cancelled');
      else if (row.pause_requested) run.stopWith('paused');
    }
  };

  /** Only the lease holder writes a running run. */
  const updateHeld = (runId: string) =>
    db.updateTable('durable_run').where('id', '=', runId).where('lease_owner', '=', owner);

  /** Takes the run's lease if nobody holds it (a mark: committed without the WAL flush). */
  const acquire = async (runId: string) =>
    (
      await sql<NonNullable<RunRow>>`
        with async_commit as (${ASYNC_COMMIT})
        update durable_run set status = 'running', lease_owner = ${owner},
          lease_expires_at = ${lease}, executions = executions + 1,
          started_at = coalesce(started_at, now()), updated_at = now()
        from async_commit
        where id = ${runId} and async_commit.async_commit is not null
          and (status = 'queued' or (status = 'running'
            and (lease_owner is null or lease_expires_at < now())))
        returning durable_run.*`.execute(db)
    ).rows[0];

  const execute = async (runId: string): Promise<ExecuteOutcome> => {
    if (active.has(runId)) return 'skipped';
    const reservation = reserved.get(runId);
    reserved.delete(runId);
    // A run reserved here is ours already (its lease is renewed from now on, with the rest).
    const acquired = reservation ?? (await acquire(runId));
    if (!acquired) {
      activeKinds.delete(runId);
      return 'skipped';
    }
    return executeAcquired(acquired);
  };

  const executeAcquired = (acquired: NonNullable<RunRow>): Promise<ExecuteOutcome> => {
    const runId = acquired.id;
    const definition = kinds.get(acquired.kind);
    activeKinds.set(runId, acquired.kind);
    // No step of a run's first execution can have been recorded before.
    const firstExecution = acquired.executions === 1;
    const begunHere = new Set<string>();
    const controller = new AbortController();
    active.set(runId, controller);
    const progress = { ...((acquired.progress ?? {}) as Record<string, number>) };
    const stopWith = (reason: RunStopped['reason']) => {
      if (!controller.signal.aborted) controller.abort(new RunStopped(reason));
    };
    const throwIfStopped = () => {
      if (controller.signal.aborted) throw controller.signal.reason;
    };
    const beating: Beating = { progress, dirty: false, stopWith };
    running.set(runId, beating);
    beat ??= setInterval(() => {
      heartbeat().catch((error: unknown) =>
        logger.warn({ err: error }, 'durable run heartbeat failed'),
      );
    }, heartbeatMs);
    beat.unref();

    /**
     * A step's checkpoint writes (its begin, its record, its failure) wait out a dry pool
     * (issue #20) instead of failing the run: a workflow step or a rows batch whose work is done
     * is recorded once the database answers again. Bounded like a settling write; a begin also
     * ends its wait when the run is stopped (its work would not start).
     */
    const checkpoint = <T>(what: string, write: () => Promise<T>, signal?: AbortSignal) =>
      retryOutage(write, {
        log: logger,
        what: `durable run ${runId} ${what}`,
        message: 'a durable run waits for the database to checkpoint a step',
        maxTries: SETTLE_TRIES,
        ...(signal ? { signal } : {}),
      });
    const groupOptions = { lingerMs: GROUP_LINGER_MS };
    // A run's steps begin and are recorded in groups (steps a kind runs side by side — an
    // extract step's documents — share statements; a step alone is written at once).
    const beginStep = grouped(async (wanted: { key: string; inputHash: string | null }[]) => {
      // One round trip (beginStepsStatement): flags, stored outputs, the others marked running.
      const { rows } = await checkpoint(
        'step begin',
        () => beginStepsStatement(runId, owner, wanted).execute(db),
        controller.signal,
      );
      const row = rows[0];
      const done = row?.done ?? {};
      return wanted.map(({ key }) => ({
        held: row?.held === true,
        cancelRequested: row?.cancel_requested === true,
        pauseRequested: row?.pause_requested === true,
        completed: Object.hasOwn(done, key),
        output: done[key] ?? null,
      }));
    }, groupOptions);
    const recordStep = grouped(async (steps: { key: string; output: unknown }[]) => {
      const recorded = await checkpoint('step record', () =>
        recordStepsStatement(runId, owner, steps).execute(db),
      );
      // The lease is the run's: every step of the group is recorded, or none.
      const held = Number(recorded.numAffectedRows ?? 0) > 0;
      return steps.map(() => held);
    }, groupOptions);

    /**
     * Grouped steps of this run between their call and their record: a grouped record lingers
     * for company only when another of them is under way (no other record can come: a lone
     * document at a step's end is recorded at once, not `GROUP_LINGER_MS` later).
     */
    let groupedUnderWay = 0;

    const context: RunContext<unknown> = {
      run: present(acquired),
      input: acquired.input,
      signal: controller.signal,
      throwIfStopped,
      count(delta) {
        for (const [key, value] of Object.entries(delta))
          progress[key] = (progress[key] ?? 0) + value;
        beating.dirty = true;
      },
      async step(key, work, stepOptions = {}) {
        throwIfStopped();
        if (stepOptions.grouped !== true) return runStep(key, work, stepOptions.inputHash, false);
        groupedUnderWay++;
        try {
          return await runStep(key, work, stepOptions.inputHash, true);
        } finally {
          groupedUnderWay--;
        }
      },
    };

    /** A step of `context.step`; `linger`: a grouped one. */
    async function runStep<T>(
      key: string,
      work: () => Promise<T>,
      inputHash: string | undefined,
      linger: boolean,
    ): Promise<T> {
      const beginning = beginStep({ key, inputHash: inputHash ?? null }, linger);
      /** Stops the run if the begin found it taken or asked to stop. */
      const begin = async () => {
        const begun = await beginning;
        if (!begun.held) stopWith('lease-lost');
        else if (begun.cancelRequested) stopWith('cancelled');
        else if (begun.pauseRequested) stopWith('paused');
        return begun;
      };
      // In a run's first execution a key not begun before has no stored output: its work
      // need not wait for the begin (a step that ends first waits for it before its record).
      const eager = firstExecution && !begunHere.has(key);
      begunHere.add(key);
      if (eager)
        beginning.catch(() => {}); // awaited below, after the work
      else {
        const begun = await begin();
        throwIfStopped();
        if (begun.completed) return begun.output as never;
      }
      let output: unknown;
      try {
        output = await work();
        // A stop the begin found comes after this step, as one asked during its work does:
        // done work is recorded (a lost lease fails the record below).
        if (eager) await begin();
      } catch (error) {
        // The failure is written on the begun step.
        if (eager) await beginning.catch(() => {});
        if (!(error instanceof RunStopped) && !controller.signal.aborted)
          await checkpoint('step failure', () =>
            db
              .updateTable('run_step')
              .set({
                status: 'failed',
                error: json(errorRecord(error)),
                finished_at: sql<Date>`now()`,
              })
              .where('run_id', '=', runId)
              .where('step_key', '=', key)
              .execute(),
          );
        throw error;
      }
      // Completed only while we still hold the run: a worker that lost its lease mid-step
      // does not get to record it (the new holder runs it again).
      if (!(await recordStep({ key, output }, linger && groupedUnderWay > 1))) {
        stopWith('lease-lost');
        throwIfStopped();
      }
      return JSON.parse(json(output)) as never;
    }

    /**
     * A settling write waits out a dry pool (issue #20): a finished run must not stay `running`
     * until its lease expires and another server runs it again (its steps are not redone, but
     * its last one would be).
     */
    const patiently = <T>(status: string, write: () => Promise<T>) =>
      retryOutage(write, {
        log: logger,
        what: `durable run ${runId} ${status}`,
        message: 'a durable run waits for the database to settle',
        maxTries: SETTLE_TRIES,
      });
    /** Settles the run; answers the outcome and the row as the settling write left it. */
    const settle = async (): Promise<{ outcome: ExecuteOutcome; row?: RunRow }> => {
      try {
        if (!definition) throw new AppError('INTERNAL', `No run kind ${acquired.kind} here`);
        if (acquired.cancel_requested) stopWith('cancelled');
        else if (acquired.pause_requested) stopWith('paused');
        throwIfStopped();
        const result = await definition.execute(context);
        throwIfStopped();
        const finished = await patiently('completed', () =>
          updateHeld(runId)
            .set({
              status: 'completed',
              result: json(result),
              progress: json(progress),
              lease_owner: null,
              lease_expires_at: null,
              finished_at: sql<Date>`now()`,
              updated_at: sql<Date>`now()`,
            })
            .returningAll()
            .executeTakeFirst(),
        );
        return finished ? { outcome: 'completed', row: finished } : { outcome: 'lease-lost' };
      } catch (error) {
        const stopped =
          error instanceof RunStopped
            ? error
            : controller.signal.reason instanceof RunStopped
              ? controller.signal.reason
              : undefined;
        const base = {
          progress: json(progress),
          lease_owner: null,
          lease_expires_at: null,
          updated_at: sql<Date>`now()`,
        };
        const held = (changes: UpdateObject<DB, 'durable_run'>) =>
          patiently(String(changes.status), () =>
            updateHeld(runId).set(changes).returningAll().executeTakeFirst(),
          );
        if (stopped?.reason === 'lease-lost') return { outcome: 'lease-lost' };
        if (stopped?.reason === 'cancelled') {
          const row = await held({ ...base, status: 'cancelled', finished_at: sql<Date>`now()` });
          return { outcome: 'cancelled', row };
        }
        if (stopped?.reason === 'paused') {
          const row = await held({
            ...base,
            status: 'paused',
            pause_requested: false,
            pause_reason:
              stopped.pauseReason === undefined
                ? sql`coalesce(pause_reason, 'user')`
                : stopped.pauseReason,
          });
          return { outcome: 'paused', row };
        }
        if (stopped?.reason === 'shutdown') {
          const row = await held({ ...base, status: 'queued' });
          return { outcome: 'requeued', row };
        }
        logger.warn({ err: error, runId, kind: acquired.kind }, 'durable run failed');
        const row = await held({
          ...base,
          status: 'failed',
          error: json(errorRecord(error)),
          finished_at: sql<Date>`now()`,
        });
        return { outcome: 'failed', row };
      } finally {
        running.delete(runId);
        if (running.size === 0) {
          clearInterval(beat);
          beat = undefined;
        }
        active.delete(runId);
        activeKinds.delete(runId);
      }
    };
    const task = settle().then(async ({ outcome, row: settledRow }) => {
      if (outcome !== 'lease-lost' && definition?.settled) {
        // The settling write's row; read again only when that write found the run taken.
        const row = settledRow ?? (await selectRun(db, runId));
        if (row)
          await definition
            .settled(present(row), outcome)
            .catch((error: unknown) =>
              logger.warn(
                { err: error, runId, kind: acquired.kind },
                'durable run settle hook failed',
              ),
            );
      }
      return outcome;
    });
    settling.add(task);
    return task.finally(() => settling.delete(task));
  };

  /**
   * The running half of a cancel or a pause: a flag for the worker that holds the run (it may be
   * another process) and an abort when this process runs it; returns the run as it now is.
   */
  const askRunningToStop = async (
    runId: string,
    flags: { cancel_requested: true } | { pause_requested: true; pause_reason: string },
    reason: 'cancelled' | 'paused',
  ) => {
    await db
      .updateTable('durable_run')
      .set({ ...flags, updated_at: sql<Date>`now()` })
      .where('id', '=', runId)
      .where('status', '=', 'running')
      .execute();
    active.get(runId)?.abort(new RunStopped(reason));
    const row = await selectRun(db, runId);
    return row ? present(row) : undefined;
  };

  return {
    get active() {
      return new Set(active.keys());
    },

    define(definition) {
      if (kinds.has(definition.kind)) throw new Error(`run kind ${definition.kind} defined twice`);
      kinds.set(definition.kind, definition as RunKind<unknown, unknown>);
      options.jobs?.register<{ runId: string }>({
        name: definition.kind,
        concurrency: definition.concurrency ?? 1,
        // The lease (not pg-boss) decides who executes a run: a retried job finds it held.
        queue: { expireInSeconds: 23 * 3_600, retryLimit: 3, retryDelay: 5 },
        handler: async (job) => execute(job.data.runId),
      });
    },

    async start({ kind, input, projectId = null, id, reserve = false }) {
      const definition = kinds.get(kind);
      if (!definition) throw new Error(`run kind ${kind} is not defined`);
      const runId = id ?? uuidv7();
      // A slot of the kind is taken before the insert, so concurrent starts never overbook it.
      const here = reservable(kind, reserve);
      if (here) activeKinds.set(runId, kind);
      try {
        const row = await db
          .insertInto('durable_run')
          .values({
            id: runId,
            kind,
            project_id: projectId,
            input: json(input),
            created_at: sql<Date>`now()`,
            updated_at: sql<Date>`now()`,
            ...(here
              ? {
                  status: 'running' as const,
                  lease_owner: owner,
                  lease_expires_at: lease,
                  executions: 1,
                  started_at: sql<Date>`now()`,
                }
              : {}),
          })
          .returningAll()
          .executeTakeFirstOrThrow();
        if (here) reserved.set(row.id, row);
        else await sendJob(kind, row.id);
        return present(row);
      } catch (error) {
        if (here) activeKinds.delete(runId);
        throw error;
      }
    },

    prepare({ kind, input, projectId = null, id, reserve = false }) {
      if (!kinds.has(kind)) throw new Error(`run kind ${kind} is not defined`);
      const runId = id ?? uuidv7();
      const here = reservable(kind, reserve);
      if (here) activeKinds.set(runId, kind);
      let settled = false;
      return {
        id: runId,
        reserved: here,
        insertFrom: (source) => sql`
          insert into durable_run (id, kind, project_id, input, status, lease_owner,
            lease_expires_at, executions, started_at, created_at, updated_at)
          select ${runId}::uuid, ${kind}::text, ${projectId}::uuid, ${json(input)}::jsonb,
            ${here ? 'running' : 'queued'}::text, ${here ? owner : null}::text,
            (${here ? lease : null})::timestamptz, ${here ? 1 : 0}::int,
            (${here ? sql`now()` : null})::timestamptz, now(), now()
          from ${source}
          returning *`,
        async started(inserted) {
          if (settled) throw new Error(`run ${runId} was started already`);
          settled = true;
          if (!inserted) {
            if (here) activeKinds.delete(runId);
            return undefined;
          }
          const row = runFromJson(inserted);
          if (here) reserved.set(row.id, row);
          else await sendJob(kind, row.id);
          return present(row);
        },
      };
    },

    wouldReserve: (kind, reserve = true) => reservable(kind, reserve),

    get: async (runId) => {
      const row = await selectRun(db, runId);
      return row ? present(row) : undefined;
    },

    steps: async (runId, { keyPrefix } = {}) =>
      (await selectSteps(db, runId, keyPrefix).execute()).map((row) => ({
        key: row.step_key,
        status: row.status,
        attempts: row.attempts,
        inputHash: row.input_hash,
        output: row.output,
        error: (row.error ?? null) as StepRecord['error'],
      })),

    async requestCancel(runId) {
      await db
        .updateTable('durable_run')
        .set({ status: 'cancelled', finished_at: sql<Date>`now()`, updated_at: sql<Date>`now()` })
        .where('id', '=', runId)
        .where('status', 'in', ['queued', 'paused'])
        .execute();
      return askRunningToStop(runId, { cancel_requested: true }, 'cancelled');
    },

    async requestPause(runId, reason = 'user') {
      await db
        .updateTable('durable_run')
        .set({ status: 'paused', pause_reason: reason, updated_at: sql<Date>`now()` })
        .where('id', '=', runId)
        .where('status', '=', 'queued')
        .execute();
      return askRunningToStop(runId, { pause_requested: true, pause_reason: reason }, 'paused');
    },

    async resume(runId) {
      const row = await db
        .updateTable('durable_run')
        .set({
          status: 'queued',
          pause_reason: null,
          pause_requested: false,
          cancel_requested: false,
          error: null,
          finished_at: null,
          updated_at: sql<Date>`now()`,
        })
        .where('id', '=', runId)
        .where('status', 'in', ['paused', 'failed'])
        .returningAll()
        .executeTakeFirst();
      if (row) await sendJob(row.kind, row.id);
      const current = row ?? (await selectRun(db, runId));
      return current ? present(current) : undefined;
    },

    execute,

    async recover({ allRunningAreOrphans = false } = {}) {
      const defined = [...kinds.keys()];
      if (defined.length === 0) return 0;
      const orphans = await db
        .updateTable('durable_run')
        .set(QUEUED_AGAIN)
        .where('kind', 'in', defined)
        .where('status', '=', 'running')
        .where((eb) =>
          allRunningAreOrphans
            ? eb.and([eb('lease_owner', 'is not', null), eb('lease_owner', '!=', owner)])
            : eb('lease_expires_at', '<', sql<Date>`now()`),
        )
        .returning(['id'])
        .execute();
      const queued = await db
        .selectFrom('durable_run')
        .select(['id', 'kind'])
        .where('kind', 'in', defined)
        .where('status', '=', 'queued')
        .orderBy('created_at')
        .limit(1_000)
        .execute();
      for (const run of queued) await sendJob(run.kind, run.id);
      if (orphans.length > 0)
        logger.info({ runs: orphans.length }, 'durable runs left by a stopped worker queued again');
      return queued.length;
    },

    async startRecovery({ embedded }) {
      await this.recover({ allRunningAreOrphans: embedded });
      if (embedded) return;
      sweeper = setInterval(() => {
        this.recover().catch((error: unknown) =>
          logger.warn({ err: error }, 'durable run recovery failed'),
        );
      }, leaseMs);
      sweeper.unref();
    },

    async stop() {
      if (sweeper) clearInterval(sweeper);
      // Reserved but never executed (their starter did not get to it): handed back as well.
      const handBack = [...reserved.keys()];
      reserved.clear();
      for (const runId of handBack) activeKinds.delete(runId);
      if (handBack.length > 0)
        await db
          .updateTable('durable_run')
          .set(QUEUED_AGAIN)
          .where('id', 'in', handBack)
          .where('lease_owner', '=', owner)
          .where('status', '=', 'running')
          .execute();
      for (const controller of active.values()) controller.abort(new RunStopped('shutdown'));
      await Promise.allSettled([...settling]);
    },
  };
}
