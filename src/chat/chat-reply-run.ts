import type { LlmMessage } from '../llm/llm-provider.ts';
import type { LlmCallResult, LlmService } from '../llm/llm-service.ts';
import { AppError } from '../platform/app-error.ts';
import type { EventBus } from '../platform/events.ts';
import { type RunContext, type RunKind, RunStopped } from '../platform/jobs/durable-run.ts';
import type { Logger } from '../platform/logger.ts';
import { contextMessages } from './chat-context.ts';
import { presentMessage } from './chat-presenter.ts';
import {
  branchUpTo,
  findMessageById,
  findThread,
  listSummaries,
  type MessageRow,
  settleMessage,
  writeStreamingText,
} from './chat-store.ts';
import type { ChatDb } from './chat-tables.ts';

/**
 * A reply is a durable run (src/platform/jobs/durable-run.ts), not a connection: the request
 * that asks for it answers 202 and the run goes on whoever executes it — closing the tab
 * changes nothing, and a run whose server died is taken over once its lease runs out.
 *
 * The run is a sequence of checkpointed steps: `model-1` (one LLM call, streamed), then —
 * once the LLM port carries tools (issue #13) — `tool-1`, `model-2`, … up to a bound, and
 * the message is settled after the last. A step interrupted by a crash is run again from the
 * start of that call (its partial text is replaced, the client sees the reset as a delta at
 * offset 0); a completed step is never called again.
 *
 * Streaming: text is written to the message row first and published on the thread's stream
 * second, at most every `flushMs` (the first delta at once). So the row always holds at
 * least what any client has been sent, and a client that loads the row after reading the
 * stream's last id can resume from that id without a gap.
 */
export const REPLY_RUN = 'chat.reply';

export interface ReplyInput {
  projectId: string;
  threadId: string;
  messageId: string;
  userId: string | null;
}

export const threadStream = (threadId: string) => `chat-thread:${threadId}`;

/** A delta: replace the message's text from `offset` on with `text`. */
export interface DeltaEvent {
  messageId: string;
  offset: number;
  text: string;
}

export interface ReplyRunDeps {
  db: ChatDb;
  llm: LlmService;
  events: EventBus;
  logger: Logger;
  /** Partial text is persisted and published at most this often (default 100 ms). */
  flushMs?: number;
  /** Messages of the branch sent as context, newest kept (until token fitting: issue #16 item 4). */
  maxContextMessages?: number;
}

interface ModelStep {
  text: string;
  reasoning: string | null;
  result: Pick<
    LlmCallResult,
    | 'callId'
    | 'provider'
    | 'model'
    | 'usage'
    | 'costNano'
    | 'latencyMs'
    | 'timeToFirstTokenMs'
    | 'finishReason'
  >;
}

export function createReplyRun(deps: ReplyRunDeps): RunKind<ReplyInput, { messageId: string }> {
  const { db, llm, events, logger } = deps;
  const flushMs = deps.flushMs ?? 100;
  const maxContext = deps.maxContextMessages ?? 500;

  const publishMessage = async (row: MessageRow) => {
    await events.publish(threadStream(row.thread_id), {
      type: 'message-updated',
      data: presentMessage(row),
    });
  };

  async function callModel(
    context: RunContext<ReplyInput>,
    message: MessageRow,
    prompt: LlmMessage[],
    provider: string | null,
  ): Promise<ModelStep> {
    const { threadId, messageId, projectId, userId } = context.input;
    const stream = threadStream(threadId);
    let text = '';
    let reasoning = '';
    let published = 0;
    // A resumed call starts over: the first flush rewrites the row and publishes offset 0.
    let resetPending = message.content.length > 0;
    let timer: NodeJS.Timeout | undefined;
    let flushing: Promise<void> = Promise.resolve();
    let lastFlush = 0;

    const flushNow = async () => {
      const snapshot = text;
      if (snapshot.length === published && !resetPending) return;
      const offset = resetPending ? 0 : published;
      resetPending = false;
      await writeStreamingText(db, messageId, snapshot, reasoning || null);
      published = snapshot.length;
      lastFlush = Date.now();
      await events.publish(stream, {
        type: 'message-delta',
        data: { messageId, offset, text: snapshot.slice(offset) } satisfies DeltaEvent,
      });
    };
    const flush = () => {
      flushing = flushing.then(flushNow, flushNow);
      return flushing;
    };
    const schedule = () => {
      if (timer) return;
      const wait = Math.max(0, flushMs - (Date.now() - lastFlush));
      timer = setTimeout(() => {
        timer = undefined;
        void flush().catch((error: unknown) =>
          logger.warn({ err: error, messageId }, 'chat reply flush failed'),
        );
      }, wait);
    };

    let result: LlmCallResult | undefined;
    try {
      for await (const event of llm.stream({
        projectId,
        userId: userId ?? undefined,
        feature: 'chat',
        entityIds: { threadId, messageId },
        ...(provider ? { provider } : {}),
        model: message.model ?? '',
        messages: prompt,
        signal: context.signal,
        // A reply is a conversation turn: regenerate must ask again, never replay.
        cache: 'off',
      })) {
        if (event.type === 'text-delta') {
          text += event.text;
          if (published === 0 && lastFlush === 0) await flush();
          else schedule();
        } else if (event.type === 'reasoning-delta') reasoning += event.text;
        else if (event.type === 'attempt-restart') {
          text = '';
          reasoning = '';
          resetPending = true;
        } else if (event.type === 'finish') result = event.result;
      }
    } finally {
      if (timer) clearTimeout(timer);
      timer = undefined;
      await flush().catch((error: unknown) =>
        logger.warn({ err: error, messageId }, 'chat reply flush failed'),
      );
    }
    if (!result) throw new AppError('PROVIDER_UNAVAILABLE', 'The call ended without an answer');
    return {
      text: result.text || text,
      reasoning: reasoning || null,
      result: {
        callId: result.callId,
        provider: result.provider,
        model: result.model,
        usage: result.usage,
        costNano: result.costNano,
        latencyMs: result.latencyMs,
        timeToFirstTokenMs: result.timeToFirstTokenMs,
        finishReason: result.finishReason,
      },
    };
  }

  return {
    kind: REPLY_RUN,
    concurrency: 8,
    async execute(context) {
      const { projectId, threadId, messageId } = context.input;
      const message = await findMessageById(db, messageId);
      // Stopped (or deleted) before it started: nothing to do.
      if (message?.status !== 'streaming') return { messageId };
      const thread = await findThread(db, projectId, threadId);
      try {
        if (!thread) throw new AppError('NOT_FOUND', 'thread not found');
        const branch =
          message.parent_id === null
            ? []
            : await branchUpTo(db, threadId, message.parent_id, maxContext);
        const prompt = contextMessages(
          thread.instructions,
          branch,
          await listSummaries(db, threadId),
        );
        const answer = await context.step('model-1', () =>
          callModel(context, message, prompt, message.provider),
        );
        // TODO(#13): when answer.result.finishReason is 'tool-calls', run `tool-1` as a step
        // and call the model again (`model-2`, …), bounded per reply.
        const usage = answer.result.usage;
        const settled = await settleMessage(db, messageId, {
          status: 'done',
          content: answer.text,
          reasoning: answer.reasoning,
          provider: answer.result.provider,
          model: answer.result.model,
          llm_call_id: answer.result.callId,
          uncached_input_tokens: usage.uncachedInputTokens ?? null,
          cache_read_tokens: usage.cacheReadTokens ?? null,
          cache_write_tokens: usage.cacheWriteTokens ?? null,
          output_tokens: usage.outputTokens ?? null,
          reasoning_tokens: usage.reasoningTokens ?? null,
          cost_nano: answer.result.costNano,
          latency_ms: Math.round(answer.result.latencyMs),
          ttft_ms:
            answer.result.timeToFirstTokenMs === undefined
              ? null
              : Math.round(answer.result.timeToFirstTokenMs),
        });
        if (settled) await publishMessage(settled);
        return { messageId };
      } catch (error) {
        const stopped =
          error instanceof RunStopped
            ? error
            : context.signal.reason instanceof RunStopped
              ? context.signal.reason
              : undefined;
        // Shutdown or a lost lease: the run goes on elsewhere (or after the restart).
        if (stopped && stopped.reason !== 'cancelled') throw error;
        const settled = stopped
          ? await settleMessage(db, messageId, { status: 'stopped' })
          : await settleMessage(db, messageId, {
              status: 'error',
              error: JSON.stringify(errorBody(error)),
            });
        if (settled) {
          if (!stopped)
            await events.publish(threadStream(threadId), {
              type: 'error',
              data: { messageId, error: errorBody(error) },
            });
          await publishMessage(settled);
        }
        throw error;
      }
    },
  };
}

export function errorBody(error: unknown) {
  if (error instanceof AppError)
    return { code: error.code, message: error.message, retryable: error.retryable };
  return { code: 'INTERNAL', message: 'The reply failed', retryable: false };
}
