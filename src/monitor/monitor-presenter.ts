import type { UsageBlock } from './monitor-blocks.ts';
import type { BudgetBurn } from './monitor-budget-burn.ts';
import type { AgentNode, OwnCallStats } from './monitor-service.ts';
import type { SessionReportRow, UsageTotals } from './monitor-store.ts';

/** Every field the monitor's reports send out, for the CLI (`--json`) and the API. */

export type ReportCostBasis = 'reported' | 'computed' | 'mixed' | 'partial' | 'unpriced' | null;

/**
 * How a group's cost was obtained: all from the logs (`reported`), all from the price catalog
 * (`computed`), both (`mixed`), some events of unknown price left out (`partial`), none known
 * (`unpriced`, cost null), or no usage at all (null).
 */
export function costBasisOf(totals: UsageTotals): ReportCostBasis {
  if (totals.usageEvents === 0) return null;
  if (totals.unpricedEvents === totals.usageEvents) return 'unpriced';
  if (totals.unpricedEvents > 0) return 'partial';
  if (totals.reportedEvents > 0 && totals.computedEvents > 0) return 'mixed';
  return totals.reportedEvents > 0 ? 'reported' : 'computed';
}

export const isoOrNull = (ms: number | null): string | null =>
  ms === null ? null : new Date(ms).toISOString();

export function usdFromNano(nano: number | null): number | null {
  return nano === null ? null : nano / 1e9;
}

/** Calls, token buckets and cost, as every usage report row shows them. */
export function presentTotals(row: UsageTotals) {
  return {
    usageEvents: row.usageEvents,
    tokens: { ...row.tokens },
    costUsd: usdFromNano(row.costNano),
    costBasis: costBasisOf(row),
    unpricedEvents: row.unpricedEvents,
  };
}

/** `braincells monitor report --by session --json`: exactly these keys (tests pin them). */
export function presentSessionRow(row: SessionReportRow) {
  return {
    source: row.source,
    sessionId: row.sessionId,
    agentId: row.agentId,
    agentType: row.agentType,
    parentSessionId: row.parentSessionId,
    records: row.records,
    tokens: { ...row.tokens },
    costUsd: usdFromNano(row.costNano),
    costBasis: costBasisOf(row),
  };
}

/** The API's session row: the CLI row plus what a dashboard lists. */
export function presentSessionListItem(row: SessionReportRow) {
  return {
    ...presentSessionRow(row),
    sessionKey: row.sessionKey,
    agentKind: row.agentKind,
    title: row.title,
    usageEvents: row.usageEvents,
    unpricedEvents: row.unpricedEvents,
    startedAt: isoOrNull(row.startedAt),
    endedAt: isoOrNull(row.endedAt),
  };
}

export function presentDayRow(row: UsageTotals & { day: string; sessions: number }) {
  return {
    day: row.day,
    sessions: row.sessions,
    ...presentTotals(row),
  };
}

export function presentModelRow(
  row: UsageTotals & { source: string; provider: string | null; model: string | null },
) {
  return {
    source: row.source,
    provider: row.provider,
    model: row.model,
    ...presentTotals(row),
  };
}

/** A breakdown row (`GET …/breakdown`, `report --by provider|project|branch`). */
export function presentBreakdownRow(row: UsageTotals & { key: string | null; sessions: number }) {
  return {
    key: row.key,
    sessions: row.sessions,
    ...presentTotals(row),
  };
}

export function presentBlockRow(row: UsageBlock) {
  return {
    start: new Date(row.start).toISOString(),
    end: new Date(row.end).toISOString(),
    active: row.active,
    ...presentTotals(row),
    burnTokensPerMinute: row.burnTokensPerMinute,
    projectedTokens: row.projectedTokens,
    projectedCostUsd: usdFromNano(row.projectedCostNano),
  };
}

export interface PresentedAgentNode {
  session: ReturnType<typeof presentSessionListItem>;
  depth: number;
  rollup: {
    tokens: SessionReportRow['tokens'];
    costUsd: number | null;
    usageEvents: number;
    unpricedEvents: number;
  };
  children: PresentedAgentNode[];
}

export function presentAgentNode(node: AgentNode): PresentedAgentNode {
  return {
    session: presentSessionListItem(node.row),
    depth: node.depth,
    rollup: {
      tokens: { ...node.rollup.tokens },
      costUsd: usdFromNano(node.rollup.costNano),
      usageEvents: node.rollup.usageEvents,
      unpricedEvents: node.rollup.unpricedEvents,
    },
    children: node.children.map(presentAgentNode),
  };
}

/** `braincells monitor import --json`: the counts of this import, exactly these keys. */
export function presentImportCounts(result: {
  files: number;
  records: number;
  badLines: number;
  sessions: number;
  usageEvents: number;
}) {
  return {
    files: result.files,
    records: result.records,
    badLines: result.badLines,
    sessions: result.sessions,
    usageEvents: result.usageEvents,
  };
}

/** An own-calls row as the API shows it: money in USD. */
export function presentOwnCallRow(
  row: OwnCallStats & { errorRate: number | null; cacheHitRate: number | null },
) {
  const { costNano, ...rest } = row;
  return { ...rest, costUsd: costNano / 1e9 };
}

/** One model call of a session's detail (tokens per step). */
export function presentStep(step: {
  eventKey: string;
  messageId: string | null;
  at: number | null;
  provider: string | null;
  model: string | null;
  tokens: SessionReportRow['tokens'];
  costNano: number | null;
  costBasis: string;
}) {
  return {
    eventKey: step.eventKey,
    messageId: step.messageId,
    at: isoOrNull(step.at),
    provider: step.provider,
    model: step.model,
    tokens: { ...step.tokens },
    costUsd: usdFromNano(step.costNano),
    costBasis: step.costBasis,
  };
}

/** A budget with its burn, in USD (the LLM module keeps nano-USD). */
export function presentBudgetBurn(burn: BudgetBurn) {
  const usd = (nano: number | null) => (nano === null ? null : nano / 1e9);
  return {
    id: burn.id,
    scope: burn.scope,
    userId: burn.userId,
    period: burn.period,
    hardLimitUsd: usd(burn.hardLimitNano),
    softLimitUsd: usd(burn.softLimitNano),
    periodStart: burn.periodStart,
    periodEnd: burn.periodEnd,
    spentUsd: burn.spentNano / 1e9,
    reservedUsd: burn.reservedNano / 1e9,
    burnUsdPerHour: usd(burn.burnNanoPerHour),
    projectedUsd: usd(burn.projectedNano),
    exhaustsAt: burn.exhaustsAt,
    usedShare: burn.usedShare,
  };
}

/** One exchange of a session: a user turn and what followed it. */
export function presentExchange(
  row: UsageTotals & {
    index: number;
    messageId: string;
    at: number;
    until: number | null;
    lastReplyAt: number | null;
    prompt: string | null;
    reply: string | null;
    toolCalls: number;
  },
) {
  return {
    index: row.index,
    messageId: row.messageId,
    at: new Date(row.at).toISOString(),
    until: isoOrNull(row.until),
    lastReplyAt: isoOrNull(row.lastReplyAt),
    prompt: row.prompt,
    reply: row.reply,
    toolCalls: row.toolCalls,
    ...presentTotals(row),
  };
}
