import type {
  LlmMessage,
  LlmParameters,
  LlmToolCallPart,
  LlmToolDefinition,
} from '../llm/llm-provider.ts';
import type { LlmCallResult, LlmService } from '../llm/llm-service.ts';
import { AppError } from '../platform/app-error.ts';
import type { EventBus } from '../platform/events.ts';
import type { Logger } from '../platform/logger.ts';
import { writeStreamingText } from './chat-store.ts';
import type { ChatDb } from './chat-tables.ts';

/** A delta: replace the message's text from `offset` on with `text`. */
export interface DeltaEvent {
  messageId: string;
  offset: number;
  text: string;
}

export const threadStream = (threadId: string) => `chat-thread:${threadId}`;

/** What one model step of a reply gave: its own text (after `prefix`), reasoning, tool calls. */
export interface ModelStep {
  text: string;
  reasoning: string | null;
  toolCalls: LlmToolCallPart[];
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

export interface ModelStepRequest {
  projectId: string;
  threadId: string;
  messageId: string;
  userId: string | null;
  provider: string | null;
  model: string;
  prompt: LlmMessage[];
  parameters: LlmParameters;
  tools: LlmToolDefinition[] | undefined;
  toolChoice: 'auto' | 'none';
  /** Text of the reply's earlier steps: this step's text is appended to it. */
  prefix: string;
  reasoningPrefix: string;
  /** Characters of the message text in the row now (more than `prefix` after a crash). */
  storedLength: number;
  signal: AbortSignal;
}

/**
 * One streamed LLM call of a reply. Text is written to the message row first and published on
 * the thread's stream second, at most every `flushMs` (the first delta at once), so the row
 * always holds at least what any client has been sent. A step run again (after a crash, or a
 * router retry mid-stream) rewrites its part of the text: the client sees a delta at the
 * offset where the step began.
 */
export async function streamModelStep(
  deps: { db: ChatDb; llm: LlmService; events: EventBus; logger: Logger; flushMs: number },
  request: ModelStepRequest,
): Promise<ModelStep> {
  const { db, llm, events, logger, flushMs } = deps;
  const { threadId, messageId, prefix } = request;
  const stream = threadStream(threadId);
  let text = '';
  let reasoning = '';
  let published = prefix.length;
  let resetPending = request.storedLength !== prefix.length;
  let timer: NodeJS.Timeout | undefined;
  let flushing: Promise<void> = Promise.resolve();
  let lastFlush = 0;
  const toolCalls: LlmToolCallPart[] = [];

  const flushNow = async () => {
    const snapshot = prefix + text;
    if (snapshot.length === published && !resetPending) return;
    const offset = resetPending ? prefix.length : published;
    resetPending = false;
    const reasoningSoFar = request.reasoningPrefix + reasoning || null;
    // The text and its delta are stored by one statement: the row holds what the event says.
    await events.publish(
      stream,
      {
        type: 'message-delta',
        data: { messageId, offset, text: snapshot.slice(offset) } satisfies DeltaEvent,
      },
      {
        storeWith: async (insert) => {
          await writeStreamingText(db, messageId, snapshot, reasoningSoFar, insert);
        },
      },
    );
    published = snapshot.length;
    lastFlush = Date.now();
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
      projectId: request.projectId,
      userId: request.userId ?? undefined,
      feature: 'chat',
      entityIds: { threadId, messageId },
      ...(request.provider ? { provider: request.provider } : {}),
      model: request.model,
      messages: request.prompt,
      parameters: request.parameters,
      ...(request.tools ? { tools: request.tools, toolChoice: request.toolChoice } : {}),
      signal: request.signal,
      // A reply is a conversation turn: regenerate must ask again, never replay.
      cache: 'off',
    })) {
      if (event.type === 'text-delta') {
        text += event.text;
        if (lastFlush === 0) await flush();
        else schedule();
      } else if (event.type === 'reasoning-delta') reasoning += event.text;
      else if (event.type === 'tool-call') toolCalls.push(event);
      else if (event.type === 'attempt-restart') {
        text = '';
        reasoning = '';
        toolCalls.length = 0;
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
    toolCalls: result.toolCalls.length > 0 ? result.toolCalls : toolCalls,
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
