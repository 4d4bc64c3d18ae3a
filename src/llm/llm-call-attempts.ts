import { AppError } from '../platform/app-error.ts';
import { uuidv7 } from '../platform/ids.ts';
import type { Budget } from './llm-budget-store.ts';
import type { AttemptContext, CallContext, CallKit } from './llm-call-context.ts';
import { errorCodeFor } from './llm-call-errors.ts';
import { priceOf, priceSource } from './llm-call-pricing.ts';
import { countTokens, type LlmMetrics } from './llm-metrics.ts';
import { maxCostNano } from './llm-prices.ts';
import { type LlmParameters, type TokenUsage, UNKNOWN_USAGE } from './llm-provider.ts';
import type { AttemptOutcome, RouterHooks, Timeouts } from './llm-router.ts';
import { countOutputTokens, estimateInputTokens } from './llm-tokens.ts';
import type { UsageRow } from './llm-usage-store.ts';

function labels(context: CallContext, target: { kind: string; model: string }) {
  return { provider: target.kind, model: target.model, feature: context.feature };
}

/** What an attempt consumed: as reported; estimated when it was cut short; nothing when refused. */
async function attemptUsage(
  outcome: AttemptOutcome,
  context: CallContext,
): Promise<{ usage: TokenUsage; estimated: boolean; billed: boolean }> {
  if (outcome.finish) return { usage: outcome.finish.usage, estimated: false, billed: true };
  const failure = outcome.failure;
  // A refusal before any answer (HTTP error, connection refused, a request the adapter
  // would not send) is not billed.
  const refused =
    !outcome.responseStarted &&
    failure !== undefined &&
    (failure.status !== undefined ||
      failure.kind === 'network' ||
      failure.kind === 'circuit-open' ||
      failure.kind === 'bad-request');
  if (refused) return { usage: UNKNOWN_USAGE, estimated: false, billed: false };
  const input = await estimateInputTokens(context.messages, context.outputSchema, {
    safety: false,
    tools: context.tools,
  });
  const output = await countOutputTokens(outcome.text);
  return {
    usage: {
      uncachedInputTokens: input,
      cacheReadTokens: undefined,
      cacheWriteTokens: undefined,
      outputTokens: output,
      reasoningTokens: undefined,
    },
    estimated: true,
    billed: true,
  };
}

/** An ended attempt's usage row: whom it was for, how it ended, what it used and cost. */
export function attemptUsageRow(
  outcome: AttemptOutcome,
  owner: Pick<
    UsageRow,
    'callId' | 'projectId' | 'userId' | 'feature' | 'entityIds' | 'cacheStatus'
  >,
  spent: Pick<UsageRow, 'usage' | 'usageEstimated' | 'costNano' | 'ttftMs'>,
): UsageRow {
  const { target } = outcome.info;
  const failure = outcome.failure;
  return {
    id: uuidv7(),
    callId: owner.callId,
    createdAt: new Date(outcome.info.startedAt),
    projectId: owner.projectId,
    userId: owner.userId,
    feature: owner.feature,
    entityIds: owner.entityIds,
    providerRef: target.providerRef,
    providerKind: target.kind,
    model: target.model,
    attempt: outcome.info.attempt,
    status: outcome.status,
    errorCode: failure ? errorCodeFor(failure.kind) : undefined,
    failureKind: failure?.kind,
    httpStatus: failure?.status,
    requestId: outcome.finish?.requestId ?? failure?.requestId,
    finishReason: outcome.finish?.finishReason,
    cacheStatus: owner.cacheStatus,
    usage: spent.usage,
    usageEstimated: spent.usageEstimated,
    costNano: spent.costNano,
    savedNano: null,
    latencyMs: outcome.latencyMs,
    ttftMs: spent.ttftMs,
  };
}

/** An ended attempt in the metrics: its status, its error, its tokens and its cost. */
export function countAttempt(
  metrics: LlmMetrics,
  labels: { provider: string; model: string; feature: string },
  outcome: AttemptOutcome,
  usage: TokenUsage,
  cost: number | null,
): void {
  metrics.attempts.inc({ ...labels, status: outcome.status });
  if (outcome.failure && outcome.status !== 'aborted')
    metrics.errors.inc({ ...labels, code: errorCodeFor(outcome.failure.kind) });
  countTokens(metrics, labels, usage);
  if (cost === null) metrics.unpriced.inc(labels);
  else if (cost > 0) metrics.costNano.inc(labels, cost);
}

/**
 * Records an attempt once it ended: priced, a usage row, metrics, its span event, and the
 * settlement of its budget reservation (in the background; `flush` waits for it). Resolves
 * to the attempt's cost.
 */
function recordAttempt(
  kit: CallKit,
  outcome: AttemptOutcome,
  context: CallContext,
  attempt: AttemptContext | undefined,
) {
  const { recorder, metrics, budgets } = kit;
  const { target } = outcome.info;
  const at = new Date(outcome.info.startedAt);
  const finishUsage = async () => {
    const { usage, estimated, billed } = await attemptUsage(outcome, context);
    const cost = billed ? priceOf(context, target, usage, outcome.finish?.responseModel, at) : 0;
    if (cost !== null) context.totalCostNano += cost;
    context.trace?.attempt(outcome, usage, estimated, cost);
    // An instance-wide connection test has no project: metrics and traces only.
    if (context.projectId !== undefined)
      await recorder.add(
        attemptUsageRow(
          outcome,
          { ...context, projectId: context.projectId },
          {
            usage,
            usageEstimated: estimated,
            costNano: cost,
            ttftMs: outcome.timeToFirstTokenMs,
          },
        ),
        context.usageDurability,
        context.batched,
      );
    if (metrics) {
      countAttempt(metrics, labels(context, target), outcome, usage, cost);
      metrics.latency.observe(
        { provider: target.kind, model: target.model },
        outcome.latencyMs / 1000,
      );
    }
    const reservation = attempt?.reservation;
    if (reservation) {
      // An unknown actual cost settles at the estimate: a budget never under-counts.
      await budgets.settle(reservation, cost ?? reservation.estimateNano);
    }
    return cost;
  };
  const work = finishUsage();
  kit.track(work);
  return work;
}

/** The router's hooks of a call: budget reservation before each attempt, usage after. */
export function attemptHooks(
  kit: CallKit,
  context: CallContext,
  applicable: readonly Budget[],
  parameters: LlmParameters,
  timeouts: Timeouts,
): RouterHooks<AttemptContext> {
  const { budgets, metrics } = kit;
  let estimateInput: Promise<number> | undefined;
  return {
    beforeAttempt: async (info) => {
      if (applicable.length === 0) return { reservation: undefined };
      estimateInput ??= estimateInputTokens(context.messages, context.outputSchema, {
        tools: context.tools,
      });
      const at = new Date(info.startedAt);
      const estimate = maxCostNano(
        await estimateInput,
        parameters.maxOutputTokens as number,
        info.target.model,
        priceSource(context, info.target, info.target.model, at),
      );
      // Unknown price: nothing to reserve (see docs/llm.md, "Budgets").
      if (estimate === null) return { reservation: undefined };
      try {
        const { reservation, warnings } = await budgets.reserve({
          reservationId: uuidv7(),
          budgets: applicable,
          estimateNano: estimate,
          expiresInMs: timeouts.totalMs + 300_000,
        });
        for (const warning of warnings)
          if (!context.warnings.includes(warning)) context.warnings.push(warning);
        return { reservation };
      } catch (error) {
        if (error instanceof AppError && error.code === 'BUDGET_EXCEEDED') {
          metrics?.budgetRefusals.inc({ feature: context.feature });
        }
        throw error;
      }
    },
    afterAttempt: (outcome, attemptContext) => {
      context.records.push(recordAttempt(kit, outcome, context, attemptContext));
    },
  };
}
