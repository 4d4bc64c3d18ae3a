import type { Actor } from '../access/actor.ts';
import { type LlmAdminDeps, parse } from './llm-admin-context.ts';
import { presentCall } from './llm-presenter.ts';
import { parseSince, spendByEntityQuerySchema, spendQuerySchema } from './llm-schema.ts';
import type { CallStatsDimension, SpendDimension } from './llm-usage-store.ts';

const DAY_MS = 86_400_000;

/**
 * The window of a spend query: from `since` through the whole day `until` (the bound is the
 * next midnight, UTC); `shown` is the window as the answer echoes it.
 */
function spendWindow(query: { since: string; until?: string | undefined }, now: Date) {
  const since = parseSince(query.since, now);
  const until = query.until
    ? new Date(new Date(`${query.until}T00:00:00Z`).getTime() + DAY_MS)
    : undefined;
  const shown = {
    since: since.toISOString().slice(0, 10),
    until: until ? new Date(until.getTime() - DAY_MS).toISOString().slice(0, 10) : null,
  };
  return { since, until, shown };
}

/** Spend, usage rows and the response cache of a project, read after buffered rows are written. */
export function createSpendAdmin(deps: LlmAdminDeps) {
  const { access, usage, cache, clock } = deps;
  return {
    /** Spend by day, model, feature and/or provider over a window (default: the last 30 days). */
    async spend(actor: Actor, projectId: string, input: unknown = {}) {
      await access.requireRole(actor, projectId, 'viewer');
      const query = parse(spendQuerySchema, input);
      const { since, until, shown } = spendWindow(query, new Date(clock.now()));
      const groupBy = (query.groupBy?.split(',') ?? []) as SpendDimension[];
      await deps.llm.flush();
      const rows = await usage.spend({ projectId, since, until, groupBy });
      const total = rows.reduce(
        (sum, row) => ({
          costNano: sum.costNano + row.costNano,
          calls: sum.calls + row.calls,
          unpricedAttempts: sum.unpricedAttempts + row.unpricedAttempts,
          savedNano: sum.savedNano + row.savedNano,
        }),
        { costNano: 0, calls: 0, unpricedAttempts: 0, savedNano: 0 },
      );
      return {
        ...shown,
        groupBy,
        total,
        rows,
      };
    },

    /** Spend by the dataset, column or run calls were made for, over a window (default 30 days). */
    async spendByEntity(actor: Actor, projectId: string, input: unknown) {
      await access.requireRole(actor, projectId, 'viewer');
      const query = parse(spendByEntityQuerySchema, input);
      const { since, until, shown } = spendWindow(query, new Date(clock.now()));
      await deps.llm.flush();
      const rows = await usage.spendByEntity({ projectId, since, until, by: query.by });
      return {
        ...shown,
        by: query.by,
        rows,
      };
    },

    /**
     * Our own calls grouped by feature, model or dataset with latency p50/p95, error and
     * cache-hit counts (the monitor's own-calls view reads this; docs/monitor.md).
     */
    async callStats(
      actor: Actor,
      projectId: string,
      query: { by: CallStatsDimension; since?: Date | undefined },
    ) {
      await access.requireRole(actor, projectId, 'viewer');
      await deps.llm.flush();
      return usage.callStats({ projectId, by: query.by, since: query.since });
    },

    /** The newest usage rows (one per attempt), newest first. */
    async calls(actor: Actor, projectId: string, options: { limit?: number; before?: Date } = {}) {
      await access.requireRole(actor, projectId, 'viewer');
      await deps.llm.flush();
      const limit = Math.min(Math.max(options.limit ?? 100, 1), 1_000);
      return (await usage.recent(projectId, limit, options.before)).map(presentCall);
    },

    async cacheStats(actor: Actor, projectId: string) {
      await access.requireRole(actor, projectId, 'viewer');
      await deps.llm.flush();
      const [totals] = await usage.spend({ projectId, since: new Date(0), groupBy: [] });
      return {
        entries: await cache.entries(projectId),
        hits: totals?.cacheHits ?? 0,
        misses: totals?.cacheMisses ?? 0,
        savedNano: totals?.savedNano ?? 0,
      };
    },

    async clearCache(actor: Actor, projectId: string) {
      await access.requireRole(actor, projectId, 'editor');
      return { cleared: await cache.clear(projectId) };
    },
  };
}
