import { type Kysely, sql } from 'kysely';
import type { DB } from '../migrations/db-schema.ts';
import { selectMatching } from '../platform/db/store-helpers.ts';
import { pickDefined } from '../platform/pick-defined.ts';
import type { ProviderKind, TokenUsage } from './llm-provider.ts';

/** One attempt (or cache hit) as recorded in the append-only `llm_calls` table. */
export interface UsageRow {
  id: string;
  callId: string;
  createdAt: Date;
  projectId: string;
  userId: string | undefined;
  feature: string;
  entityIds: Record<string, string>;
  providerRef: string;
  providerKind: ProviderKind;
  model: string;
  attempt: number;
  status: 'ok' | 'error' | 'timeout' | 'aborted' | 'cache-hit';
  errorCode: string | undefined;
  failureKind: string | undefined;
  httpStatus: number | undefined;
  requestId: string | undefined;
  finishReason: string | undefined;
  cacheStatus: 'hit' | 'miss' | 'bypass' | 'off';
  usage: TokenUsage;
  /** Tokens were counted by us (a stream cut short), not reported by the provider. */
  usageEstimated: boolean;
  costNano: number | null;
  savedNano: number | null;
  latencyMs: number;
  ttftMs: number | undefined;
}

export type SpendDimension = 'day' | 'model' | 'feature' | 'provider';

export interface SpendQuery {
  projectId: string;
  /** Inclusive, floored to the UTC day. */
  since: Date;
  /** Exclusive; default: now. */
  until?: Date | undefined;
  groupBy: readonly SpendDimension[];
}

export interface SpendRow {
  day?: string;
  model?: string;
  feature?: string;
  providerKind?: string;
  calls: number;
  attempts: number;
  errors: number;
  cacheHits: number;
  cacheMisses: number;
  uncachedInputTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
  outputTokens: number;
  reasoningTokens: number;
  /** Sum of known costs. */
  costNano: number;
  /** Attempts whose price is unknown: `costNano` leaves them out. */
  unpricedAttempts: number;
  savedNano: number;
}

export type SpendEntity = 'dataset' | 'column' | 'run' | 'gateway-key';

/** The `entity_ids` key each breakdown reads (written by sheets generation and the gateway). */
const ENTITY_KEYS: Record<SpendEntity, string> = {
  dataset: 'datasetId',
  column: 'columnId',
  run: 'runId',
  'gateway-key': 'gatewayKeyId',
};
/** The costliest entities listed; the rest are left off (the page says how many rows it got). */
const ENTITY_ROWS = 200;

export interface SpendByEntityQuery {
  projectId: string;
  since: Date;
  until?: Date | undefined;
  by: SpendEntity;
}

export interface EntitySpendRow {
  /** The dataset, column or run id; null for calls made for none (chat, tests). */
  entityId: string | null;
  /** The dataset the entity belongs to (a column's or run's dataset), when recorded. */
  datasetId: string | null;
  calls: number;
  errors: number;
  cacheHits: number;
  /** Sum of known costs. */
  costNano: number;
  /** Attempts whose price is unknown: `costNano` leaves them out. */
  unpricedAttempts: number;
}

export type CallStatsDimension = 'feature' | 'model' | 'dataset';

export interface CallStatsQuery {
  projectId: string;
  since?: Date | undefined;
  by: CallStatsDimension;
}

/** Our own LLM calls grouped by feature, model or dataset (see `callStats`). */
export interface CallStatsRow {
  /** The feature, `provider/model`, or dataset id; null: calls made for no dataset. */
  key: string | null;
  /** Logical calls (first attempts and cache hits). */
  calls: number;
  /** Requests sent to a provider (retries included, cache hits not). */
  attempts: number;
  /** Attempts that failed (error or timeout). */
  errors: number;
  cacheHits: number;
  /** Latency of the attempts sent to a provider, in ms; null when there were none. */
  latencyP50Ms: number | null;
  latencyP95Ms: number | null;
  inputTokens: number;
  outputTokens: number;
  costNano: number;
  unpricedAttempts: number;
}

const CALL_STATS_KEYS: Record<CallStatsDimension, string> = {
  feature: 'feature',
  model: "provider_kind || '/' || model",
  dataset: "entity_ids ->> 'datasetId'",
};

const nullable = (value: number | undefined) => (value === undefined ? null : value);
const dayOf = (date: Date) => date.toISOString().slice(0, 10);

interface RollupKey {
  day: string;
  project_id: string;
  provider_kind: string;
  model: string;
  feature: string;
}

type RollupRow = RollupKey & {
  calls: number;
  attempts: number;
  errors: number;
  cache_hits: number;
  cache_misses: number;
  uncached_input_tokens: number;
  cache_read_tokens: number;
  cache_write_tokens: number;
  output_tokens: number;
  reasoning_tokens: number;
  cost_nano: number;
  unpriced_attempts: number;
  saved_nano: number;
};

/** Sums a batch of rows into daily rollup increments, sorted so concurrent writers lock in one order. */
export function rollup(rows: readonly UsageRow[]): RollupRow[] {
  const byKey = new Map<string, RollupRow>();
  for (const row of rows) {
    const key: RollupKey = {
      day: dayOf(row.createdAt),
      project_id: row.projectId,
      provider_kind: row.providerKind,
      model: row.model,
      feature: row.feature,
    };
    const id = [key.project_id, key.day, key.provider_kind, key.model, key.feature].join('\u0000');
    let sum = byKey.get(id);
    if (!sum) {
      sum = {
        ...key,
        calls: 0,
        attempts: 0,
        errors: 0,
        cache_hits: 0,
        cache_misses: 0,
        uncached_input_tokens: 0,
        cache_read_tokens: 0,
        cache_write_tokens: 0,
        output_tokens: 0,
        reasoning_tokens: 0,
        cost_nano: 0,
        unpriced_attempts: 0,
        saved_nano: 0,
      };
      byKey.set(id, sum);
    }
    // Every logical call has exactly one attempt 1 (a cache hit is attempt 1 too).
    if (row.attempt === 1) sum.calls += 1;
    if (row.status !== 'cache-hit') sum.attempts += 1;
    if (row.status === 'error' || row.status === 'timeout') sum.errors += 1;
    if (row.status === 'cache-hit') sum.cache_hits += 1;
    if (row.cacheStatus === 'miss' && row.attempt === 1) sum.cache_misses += 1;
    sum.uncached_input_tokens += row.usage.uncachedInputTokens ?? 0;
    sum.cache_read_tokens += row.usage.cacheReadTokens ?? 0;
    sum.cache_write_tokens += row.usage.cacheWriteTokens ?? 0;
    sum.output_tokens += row.usage.outputTokens ?? 0;
    sum.reasoning_tokens += row.usage.reasoningTokens ?? 0;
    if (row.costNano === null) sum.unpriced_attempts += 1;
    else sum.cost_nano += row.costNano;
    sum.saved_nano += row.savedNano ?? 0;
  }
  return [...byKey.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, row]) => row);
}

const ROLLUP_COUNTERS = [
  'calls',
  'attempts',
  'errors',
  'cache_hits',
  'cache_misses',
  'uncached_input_tokens',
  'cache_read_tokens',
  'cache_write_tokens',
  'output_tokens',
  'reasoning_tokens',
  'cost_nano',
  'unpriced_attempts',
  'saved_nano',
] as const;

/** Attempts that failed, and calls answered from the cache: counted alike in every report. */
const failedAttempts = sql<number>`count(*) filter (where status in ('error', 'timeout'))`;
const cacheHits = sql<number>`count(*) filter (where status = 'cache-hit')`;

/** Usage rows in: one statement per batch, rows and the daily rollup together. */
function usageWrites(db: Kysely<DB>) {
  return {
    /**
     * Appends rows and adds them to the daily rollup in one statement (the rows' insert is a
     * data-modifying `with`, which PostgreSQL runs to completion with the rest: all or nothing,
     * with no transaction around it — one round trip, where BEGIN, two inserts and COMMIT were
     * four). One array parameter per column (`unnest`) instead of one parameter per value: a
     * 500-row batch is 28 parameters, not 14,000, which keeps parsing and binding cheap on
     * PGlite and PostgreSQL.
     */
    async insert(rows: readonly UsageRow[]): Promise<void> {
      if (rows.length === 0) return;
      const column = <T>(pick: (row: UsageRow) => T) => rows.map(pick);
      const increments = rollup(rows);
      const sum = <K extends keyof RollupRow>(key: K) => increments.map((row) => row[key]);
      await sql`
        with calls as (
          insert into llm_calls (
            id, call_id, created_at, project_id, user_id, feature, entity_ids, provider_ref,
            provider_kind, model, attempt, status, error_code, failure_kind, http_status,
            request_id, finish_reason, cache_status, uncached_input_tokens, cache_read_tokens,
            cache_write_tokens, output_tokens, reasoning_tokens, usage_estimated, cost_nano,
            saved_nano, latency_ms, ttft_ms
          )
          select * from unnest(
            ${column((r) => r.id)}::uuid[],
            ${column((r) => r.callId)}::uuid[],
            ${column((r) => r.createdAt.toISOString())}::timestamptz[],
            ${column((r) => r.projectId)}::uuid[],
            ${column((r) => r.userId ?? null)}::uuid[],
            ${column((r) => r.feature)}::text[],
            ${column((r) => JSON.stringify(r.entityIds))}::jsonb[],
            ${column((r) => r.providerRef)}::text[],
            ${column((r) => r.providerKind)}::text[],
            ${column((r) => r.model)}::text[],
            ${column((r) => r.attempt)}::smallint[],
            ${column((r) => r.status)}::text[],
            ${column((r) => r.errorCode ?? null)}::text[],
            ${column((r) => r.failureKind ?? null)}::text[],
            ${column((r) => r.httpStatus ?? null)}::smallint[],
            ${column((r) => r.requestId ?? null)}::text[],
            ${column((r) => r.finishReason ?? null)}::text[],
            ${column((r) => r.cacheStatus)}::text[],
            ${column((r) => nullable(r.usage.uncachedInputTokens))}::integer[],
            ${column((r) => nullable(r.usage.cacheReadTokens))}::integer[],
            ${column((r) => nullable(r.usage.cacheWriteTokens))}::integer[],
            ${column((r) => nullable(r.usage.outputTokens))}::integer[],
            ${column((r) => nullable(r.usage.reasoningTokens))}::integer[],
            ${column((r) => r.usageEstimated)}::boolean[],
            ${column((r) => r.costNano)}::bigint[],
            ${column((r) => r.savedNano)}::bigint[],
            ${column((r) => Math.round(r.latencyMs))}::integer[],
            ${column((r) => (r.ttftMs === undefined ? null : Math.round(r.ttftMs)))}::integer[]
          )
        )
        insert into llm_usage_daily (
          day, project_id, provider_kind, model, feature, ${sql.join(ROLLUP_COUNTERS.map((c) => sql.ref(c)))}
        )
        select * from unnest(
          ${sum('day')}::date[],
          ${sum('project_id')}::uuid[],
          ${sum('provider_kind')}::text[],
          ${sum('model')}::text[],
          ${sum('feature')}::text[],
          ${sql.join(ROLLUP_COUNTERS.map((c) => sql`${sum(c)}::bigint[]`))}
        )
        on conflict (project_id, day, provider_kind, model, feature) do update set
          ${sql.join(ROLLUP_COUNTERS.map((c) => sql`${sql.ref(c)} = llm_usage_daily.${sql.ref(c)} + excluded.${sql.ref(c)}`))}
      `.execute(db);
    },

    /** Which of these row ids are already written (the usage outbox's replay skips them). */
    async committedIds(ids: readonly string[]): Promise<Set<string>> {
      if (ids.length === 0) return new Set();
      const rows = await db
        .selectFrom('llm_calls')
        .select('id')
        .where('id', '=', sql<string>`any(${[...ids]}::uuid[])`)
        .execute();
      return new Set(rows.map((row) => row.id));
    },
  };
}

/** Reports over usage: spend from the rollup; by entity and call statistics from the rows. */
function usageReports(db: Kysely<DB>) {
  /** The raw usage rows of one project. */
  const callsOf = (projectId: string) =>
    db.selectFrom('llm_calls').where('project_id', '=', projectId);

  return {
    /** Spend from the daily rollup, grouped by the asked dimensions (none: one total row). */
    async spend(query: SpendQuery): Promise<SpendRow[]> {
      const columns: Record<SpendDimension, 'day' | 'model' | 'feature' | 'provider_kind'> = {
        day: 'day',
        model: 'model',
        feature: 'feature',
        provider: 'provider_kind',
      };
      const groups = [...new Set(query.groupBy)].map((dimension) => columns[dimension]);
      let select = db
        .selectFrom('llm_usage_daily')
        .where('project_id', '=', query.projectId)
        .where('day', '>=', dayOf(query.since))
        .select((eb) =>
          ROLLUP_COUNTERS.map((column) =>
            eb.fn.coalesce(eb.fn.sum<number>(column), sql<number>`0`).as(column),
          ),
        );
      if (query.until) select = select.where('day', '<', dayOf(query.until));
      for (const column of groups) select = select.select(column).groupBy(column).orderBy(column);
      const rows = (await select.execute()) as unknown as (RollupRow & Partial<RollupKey>)[];
      return rows.map((row) => ({
        ...pickDefined(row, ['day', 'model', 'feature']),
        ...(row.provider_kind === undefined ? {} : { providerKind: row.provider_kind }),
        calls: Number(row.calls),
        attempts: Number(row.attempts),
        errors: Number(row.errors),
        cacheHits: Number(row.cache_hits),
        cacheMisses: Number(row.cache_misses),
        uncachedInputTokens: Number(row.uncached_input_tokens),
        cacheReadTokens: Number(row.cache_read_tokens),
        cacheWriteTokens: Number(row.cache_write_tokens),
        outputTokens: Number(row.output_tokens),
        reasoningTokens: Number(row.reasoning_tokens),
        costNano: Number(row.cost_nano),
        unpricedAttempts: Number(row.unpriced_attempts),
        savedNano: Number(row.saved_nano),
      }));
    },

    /**
     * Spend by the dataset, column or run a call was made for (the `entity_ids` the caller
     * recorded), from the raw rows: the daily rollup does not carry entity ids. Calls without
     * that id (chat, connection tests) are one row with `entityId` null.
     */
    async spendByEntity(query: SpendByEntityQuery): Promise<EntitySpendRow[]> {
      // A literal, not a parameter: the select and the group by must be the same expression.
      const key = sql.lit(ENTITY_KEYS[query.by]);
      let select = callsOf(query.projectId)
        .where('created_at', '>=', query.since)
        .select([
          sql<string | null>`entity_ids ->> ${key}`.as('entity_id'),
          sql<string | null>`min(entity_ids ->> 'datasetId')`.as('dataset_id'),
          sql<number>`count(*) filter (where attempt = 1)`.as('calls'),
          failedAttempts.as('errors'),
          cacheHits.as('cache_hits'),
          sql<number>`coalesce(sum(cost_nano), 0)`.as('cost_nano'),
          sql<number>`count(*) filter (where cost_nano is null)`.as('unpriced_attempts'),
        ])
        .groupBy(sql`entity_ids ->> ${key}`)
        .orderBy(sql`coalesce(sum(cost_nano), 0)`, 'desc')
        .limit(ENTITY_ROWS);
      if (query.until) select = select.where('created_at', '<', query.until);
      const rows = await select.execute();
      return rows.map((row) => ({
        entityId: row.entity_id,
        datasetId: row.dataset_id,
        calls: Number(row.calls),
        errors: Number(row.errors),
        cacheHits: Number(row.cache_hits),
        costNano: Number(row.cost_nano),
        unpricedAttempts: Number(row.unpriced_attempts),
      }));
    },

    /**
     * Our own calls grouped by feature, model or dataset, from the raw rows (percentiles need
     * them): calls, attempts, errors, cache hits, latency p50/p95 of provider attempts (cache
     * hits answer in no time and would hide the provider's latency), tokens and known cost.
     */
    async callStats(query: CallStatsQuery): Promise<CallStatsRow[]> {
      // A fixed expression per dimension (a literal), never user text.
      const key = sql.raw(CALL_STATS_KEYS[query.by]);
      let select = callsOf(query.projectId)
        .select([
          sql<string | null>`${key}`.as('key'),
          sql<number>`count(*) filter (where attempt = 1 or status = 'cache-hit')`.as('calls'),
          sql<number>`count(*) filter (where status <> 'cache-hit')`.as('attempts'),
          failedAttempts.as('errors'),
          cacheHits.as('cache_hits'),
          sql<
            number | null
          >`percentile_cont(0.5) within group (order by latency_ms) filter (where status <> 'cache-hit')`.as(
            'p50',
          ),
          sql<
            number | null
          >`percentile_cont(0.95) within group (order by latency_ms) filter (where status <> 'cache-hit')`.as(
            'p95',
          ),
          sql<number>`coalesce(sum(coalesce(uncached_input_tokens, 0) + coalesce(cache_read_tokens, 0) + coalesce(cache_write_tokens, 0)), 0)`.as(
            'input_tokens',
          ),
          // output_tokens already include reasoning (both are billed as output).
          sql<number>`coalesce(sum(output_tokens), 0)`.as('output_tokens'),
          sql<number>`coalesce(sum(cost_nano), 0)`.as('cost_nano'),
          sql<number>`count(*) filter (where cost_nano is null and status <> 'cache-hit')`.as(
            'unpriced_attempts',
          ),
        ])
        .groupBy(key)
        .orderBy(sql`count(*)`, 'desc')
        .limit(ENTITY_ROWS);
      if (query.since) select = select.where('created_at', '>=', query.since);
      const rows = await select.execute();
      // Percentiles interpolate: rounded to 0.1 ms.
      const num = (value: unknown) => (value === null ? null : Math.round(Number(value) * 10) / 10);
      return rows.map((row) => ({
        key: row.key,
        calls: Number(row.calls),
        attempts: Number(row.attempts),
        errors: Number(row.errors),
        cacheHits: Number(row.cache_hits),
        latencyP50Ms: num(row.p50),
        latencyP95Ms: num(row.p95),
        inputTokens: Number(row.input_tokens),
        outputTokens: Number(row.output_tokens),
        costNano: Number(row.cost_nano),
        unpricedAttempts: Number(row.unpriced_attempts),
      }));
    },
  };
}

/** Usage rows out: one call's attempts, a project's newest rows, its cost since a moment. */
function usageReads(db: Kysely<DB>) {
  return {
    /** Rows of one logical call, attempt order. */
    async attemptsOf(callId: string) {
      return selectMatching(db, 'llm_calls', { call_id: callId })
        .orderBy('attempt')
        .orderBy('created_at')
        .execute();
    },

    /** The newest rows of a project (newest first), for the usage page. */
    async recent(projectId: string, limit: number, before?: Date) {
      let query = selectMatching(db, 'llm_calls', { project_id: projectId })
        .orderBy('created_at', 'desc')
        .orderBy('id', 'desc')
        .limit(limit);
      if (before) query = query.where('created_at', '<', before);
      return query.execute();
    },

    /** Sum of known costs of a project (or one user in it) since a moment, from the raw rows. */
    async costSince(projectId: string, since: Date, userId?: string): Promise<number> {
      let query = db
        .selectFrom('llm_calls')
        .select((eb) => eb.fn.coalesce(eb.fn.sum<number>('cost_nano'), sql<number>`0`).as('cost'))
        .where('project_id', '=', projectId)
        .where('created_at', '>=', since);
      if (userId) query = query.where('user_id', '=', userId);
      const row = await query.executeTakeFirstOrThrow();
      return Number(row.cost);
    },
  };
}

/** Usage in PostgreSQL: append-only rows per attempt (`llm_calls`) and a daily rollup. */
export function createUsageStore(db: Kysely<DB>) {
  return { ...usageWrites(db), ...usageReports(db), ...usageReads(db) };
}

export type UsageStore = ReturnType<typeof createUsageStore>;
