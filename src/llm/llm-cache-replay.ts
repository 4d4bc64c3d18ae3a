import { uuidv7 } from '../platform/ids.ts';
import type { CachedResponse } from './llm-cache.ts';
import type { CallContext, CallKit } from './llm-call-context.ts';
import type { LlmStreamEvent } from './llm-call-types.ts';
import type { TokenUsage } from './llm-provider.ts';
import type { UsageRow } from './llm-usage-store.ts';

/**
 * A cache hit, answered as a call: the cached text and tool calls, then `finish` with zero
 * tokens and cost and what the original call cost as `savedNano`; one usage row (status
 * `cache-hit`) and the span's end.
 */
export async function* replayCached(
  kit: Pick<CallKit, 'clock' | 'recorder'>,
  hit: CachedResponse,
  context: CallContext,
  startedAt: number,
): AsyncGenerator<LlmStreamEvent, void, undefined> {
  const { clock, recorder } = kit;
  const latencyMs = clock.now() - startedAt;
  const zero: TokenUsage = {
    uncachedInputTokens: 0,
    cacheReadTokens: 0,
    cacheWriteTokens: 0,
    outputTokens: 0,
    reasoningTokens: 0,
  };
  await recorder.add(
    {
      id: uuidv7(),
      callId: context.callId,
      createdAt: new Date(startedAt),
      projectId: context.projectId as string,
      userId: context.userId,
      feature: context.feature,
      entityIds: context.entityIds,
      providerRef: hit.providerRef,
      providerKind: hit.providerKind as UsageRow['providerKind'],
      model: hit.model,
      attempt: 1,
      status: 'cache-hit',
      errorCode: undefined,
      failureKind: undefined,
      httpStatus: undefined,
      requestId: undefined,
      finishReason: hit.finishReason,
      cacheStatus: 'hit',
      usage: zero,
      usageEstimated: false,
      costNano: 0,
      savedNano: hit.costNano,
      latencyMs,
      ttftMs: latencyMs,
    },
    context.usageDurability,
    context.batched,
  );
  context.trace?.finish({
    kind: hit.providerKind as UsageRow['providerKind'],
    providerRef: hit.providerRef,
    responseModel: hit.model,
    responseId: undefined,
    finishReason: hit.finishReason,
    usage: zero,
    costNano: 0,
    attempts: 0,
    cacheHit: true,
    timeToFirstTokenMs: undefined,
  });
  if (hit.text !== '') yield { type: 'text-delta', text: hit.text };
  const toolCalls = hit.toolCalls ?? [];
  for (const call of toolCalls) yield call;
  yield {
    type: 'finish',
    result: {
      callId: context.callId,
      text: hit.text,
      output: hit.output,
      toolCalls,
      finishReason: hit.finishReason,
      provider: hit.providerRef,
      providerKind: hit.providerKind,
      model: hit.model,
      usage: zero,
      costNano: 0,
      attempts: 0,
      cacheHit: true,
      savedNano: hit.costNano,
      latencyMs,
      timeToFirstTokenMs: latencyMs,
      requestId: undefined,
      warnings: [],
    },
  };
}
