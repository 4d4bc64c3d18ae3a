import type { Actor } from '../access/actor.ts';
import type { AuditRecorder } from '../access/audit-recorder.ts';
import type { Executor } from '../audit/audit-store.ts';
import { SYSTEM_USER_ID, systemActor } from '../auth/system-actor.ts';
import type { LlmMessage, LlmToolDefinition, TokenUsage } from '../llm/llm-provider.ts';
import type { LlmService } from '../llm/llm-service.ts';
import { AppError } from '../platform/app-error.ts';
import type { EventBus } from '../platform/events.ts';
import {
  type DurableRuns,
  type RunContext,
  type RunKind,
  RunStopped,
} from '../platform/jobs/durable-run.ts';
import type { Logger } from '../platform/logger.ts';
import { parametersOf } from './chat-agent-presenter.ts';
import { type AgentVersionRow, findAgentVersion } from './chat-agent-store.ts';
import { contextParts, toolTurns } from './chat-context.ts';
import { contextWindowOf, DEFAULT_CONTEXT_WINDOW, fitContext } from './chat-context-fit.ts';
import { type ModelStep, streamModelStep, threadStream } from './chat-model-step.ts';
import { presentMessage } from './chat-presenter.ts';
import {
  type MessageRow,
  replyContext,
  type SummaryRow,
  settleMessage,
  type ThreadRow,
  writeStreamingParts,
} from './chat-store.ts';
import { claimSummaryWindow, startSummaryRun, summarizerFor } from './chat-summary-claim.ts';
import type { AgentToolName, ChatDb } from './chat-tables.ts';
import {
  type ChatPart,
  type ChatToolPorts,
  runToolCall,
  type ToolCallPart,
  type ToolResultPart,
  toolDefinitions,
} from './chat-tools.ts';

export { type DeltaEvent, threadStream } from './chat-model-step.ts';

/**
 * A reply is a durable run (src/platform/jobs/durable-run.ts), not a connection: the request
 * that asks for it answers 202 and the run goes on whoever executes it — closing the tab
 * changes nothing, and a run whose server died is taken over once its lease runs out.
 *
 * The run is a sequence of checkpointed steps: `model-1` (one LLM call, streamed); when the
 * reply's agent has tools and the model calls them, `tool-1` (the calls run, their results
 * stored as message parts), then `model-2`, … The agent version's `max_tool_steps` bounds the
 * tool rounds: the call after the last round is made with tool choice `none`, so the model
 * answers in text. A step interrupted by a crash is run again; a completed one never is.
 * The agent version is the one recorded on the message when it was created, so an agent
 * edited or deleted meanwhile does not change the reply.
 */
export const REPLY_RUN = 'chat.reply';

export interface ReplyInput {
  projectId: string;
  threadId: string;
  messageId: string;
  userId: string | null;
  /**
   * Set when the system actor (the CLI, run by whoever holds the server's data dir) sent the
   * message: the agent's tools then act as the system, read-only and on this project only,
   * each call audited (`chat-tool.call`). Never set from a request.
   */
  toolsAsSystem?: true;
}

/** Messages of the branch a reply reads for its context (then fitted by tokens), newest kept. */
export const MAX_CONTEXT_MESSAGES = 500;

/**
 * What a reply's run reads before its model call (`replyContext`), read instead by the send
 * that started the run in this process (`writeReply`, in its one statement) and handed over
 * here by run id: the run's first execution takes it and reads nothing. A run executed
 * anywhere else, or again after a restart, reads it from the database.
 */
export type ReplyContextHandOff = Map<
  string,
  { limit: number; branch: MessageRow[]; thread: ThreadRow; summaries: SummaryRow[] }
>;

export interface ReplyRunDeps {
  db: ChatDb;
  /** Records the tool calls a reply makes as the system (the CLI's). */
  audit: AuditRecorder;
  llm: LlmService;
  events: EventBus;
  logger: Logger;
  tools: ChatToolPorts;
  /** Starts the summary run when a thread outgrows its model's window. */
  runs: Pick<DurableRuns, 'start'>;
  /** Output tokens reserved in the window when the agent sets none (the LLM default). */
  defaultMaxOutputTokens: number;
  /** Partial text is persisted and published at most this often (default 100 ms). */
  flushMs?: number;
  /** Messages of the branch read for the context (then fitted by tokens), newest kept. */
  maxContextMessages?: number;
  /** Contexts the sends of this process read for the runs they reserved. */
  handOff?: ReplyContextHandOff;
  /**
   * Which models take images: a user message's images go to them as image parts (`llm` puts in
   * the bytes), to others as a line of text. Absent: text only.
   */
  acceptsImages?: (model: string) => boolean;
}

/** The user a reply acts for, as tools see it: their own project access, read scope only. */
function replyActor(userId: string): Actor {
  return { userId, isAdmin: false, via: 'system', scopes: ['read'], credentialId: undefined };
}

/**
 * The tools' actor of a reply the CLI asked for: the system actor, which passes access checks,
 * with read scope only. The tool context pins it to the reply's project (every tool names a
 * dataset of that project), and each call it makes is audited.
 */
function systemToolActor(): Actor {
  return { ...systemActor(), scopes: ['read'], credentialId: 'chat-reply' };
}

/** Who the agent's tools act for: the asking user, else the system for the CLI, else nobody. */
function toolActorOf(input: ReplyInput): Actor | undefined {
  if (input.userId) return replyActor(input.userId);
  return input.toolsAsSystem ? systemToolActor() : undefined;
}

/** Sums known token counts; a bucket no step reported stays undefined. */
function addUsage(total: TokenUsage | undefined, next: TokenUsage): TokenUsage {
  if (!total) return next;
  const add = (a: number | undefined, b: number | undefined) =>
    a === undefined && b === undefined ? undefined : (a ?? 0) + (b ?? 0);
  return {
    uncachedInputTokens: add(total.uncachedInputTokens, next.uncachedInputTokens),
    cacheReadTokens: add(total.cacheReadTokens, next.cacheReadTokens),
    cacheWriteTokens: add(total.cacheWriteTokens, next.cacheWriteTokens),
    outputTokens: add(total.outputTokens, next.outputTokens),
    reasoningTokens: add(total.reasoningTokens, next.reasoningTokens),
  };
}

/** Whether a run's failure is a stop by the user (settle `stopped`), or a hand-over (rethrow). */
export function stopOf(error: unknown, signal: AbortSignal): RunStopped | undefined {
  if (error instanceof RunStopped) return error;
  return signal.reason instanceof RunStopped ? signal.reason : undefined;
}

export function createReplyRun(deps: ReplyRunDeps): RunKind<ReplyInput, { messageId: string }> {
  const { db, events } = deps;
  const flushMs = deps.flushMs ?? 100;
  const maxContext = deps.maxContextMessages ?? MAX_CONTEXT_MESSAGES;

  const publishMessage = async (row: MessageRow) => {
    await events.publish(threadStream(row.thread_id), {
      type: 'message-updated',
      data: presentMessage(row),
    });
  };

  /** The model steps and tool rounds of one reply; returns the last step and the totals. */
  /** The agent's tools for this reply (none without an agent, a user, or rounds). */
  async function toolSetup(input: ReplyInput, agent: AgentVersionRow | undefined) {
    const actor = toolActorOf(input);
    const maxRounds = agent && actor ? agent.max_tool_steps : 0;
    const toolContext =
      agent && actor && maxRounds > 0 && agent.tools.length > 0
        ? {
            actor,
            projectId: input.projectId,
            enabled: agent.tools as readonly AgentToolName[],
          }
        : undefined;
    const tools: LlmToolDefinition[] | undefined = toolContext
      ? await toolDefinitions(deps.tools, toolContext)
      : undefined;
    return { maxRounds, toolContext, tools };
  }

  /**
   * The thread outgrew the window: claim a summary of it (unique per thread and window, so a
   * second worker or a retried reply claims nothing) and start its run. Never fails the reply.
   */
  async function summarizeOutgrown(
    input: ReplyInput,
    thread: ThreadRow,
    message: MessageRow,
    agent: AgentVersionRow | undefined,
  ) {
    try {
      const summarizer = await summarizerFor(db, input.projectId, agent, {
        model: message.model ?? thread.model,
        provider: message.provider,
      });
      const claim = await claimSummaryWindow(db, thread, {
        ...summarizer,
        userId: input.userId,
        allowStreamingId: message.id,
        skipIfPending: true,
      });
      if (!claim.ok) return;
      await startSummaryRun(db, deps.runs, {
        projectId: input.projectId,
        threadId: input.threadId,
        summaryId: claim.summary.id,
        userId: input.userId,
      });
      await events.publish(threadStream(input.threadId), {
        type: 'summary-updated',
        data: { id: claim.summary.id, status: 'pending' },
      });
    } catch (error) {
      deps.logger.warn({ err: error, threadId: input.threadId }, 'automatic summary failed');
    }
  }

  async function converse(
    context: RunContext<ReplyInput>,
    message: MessageRow,
    prompt: LlmMessage[],
    agent: AgentVersionRow | undefined,
    setup: Awaited<ReturnType<typeof toolSetup>>,
  ) {
    const { projectId, threadId, messageId, userId } = context.input;
    const { maxRounds, toolContext, tools } = setup;
    const parts: ChatPart[] = [];
    let text = '';
    let reasoning = '';
    let storedLength = message.content.length;
    let usage: TokenUsage | undefined;
    let costNano: number | null = 0;
    let latencyMs = 0;
    let firstTokenMs: number | undefined;
    for (let step = 1; ; step++) {
      const lastRound = step > maxRounds;
      const answer: ModelStep = await context.step(`model-${step}`, () =>
        streamModelStep(
          { ...deps, flushMs },
          {
            projectId,
            threadId,
            messageId,
            userId,
            provider: message.provider,
            model: message.model ?? '',
            prompt,
            parameters: agent ? parametersOf(agent) : {},
            tools,
            toolChoice: lastRound ? 'none' : 'auto',
            prefix: text,
            reasoningPrefix: reasoning,
            storedLength,
            signal: context.signal,
          },
        ),
      );
      text += answer.text;
      reasoning += answer.reasoning ?? '';
      storedLength = text.length;
      usage = addUsage(usage, answer.result.usage);
      costNano =
        costNano === null || answer.result.costNano === null
          ? null
          : costNano + answer.result.costNano;
      latencyMs += answer.result.latencyMs;
      firstTokenMs ??= answer.result.timeToFirstTokenMs;
      if (!toolContext || lastRound || answer.toolCalls.length === 0)
        return { answer, text, reasoning, usage: usage!, costNano, latencyMs, firstTokenMs };
      const calls: ToolCallPart[] = answer.toolCalls.map((call) => ({ ...call, step }));
      const results: ToolResultPart[] = await context.step(`tool-${step}`, async () => {
        const answered: ToolResultPart[] = [];
        for (const call of calls) {
          const result = await runToolCall(
            deps.tools,
            { ...toolContext, signal: context.signal },
            call,
          );
          if (toolContext.actor.userId === SYSTEM_USER_ID)
            await deps.audit.record(db as unknown as Executor, {
              actor: toolContext.actor,
              action: 'chat-tool.call',
              entityType: 'chat-message',
              entityId: messageId,
              projectId,
              summary: {
                threadId,
                tool: call.toolName,
                input: call.input,
                isError: result.isError,
              },
            });
          answered.push(result);
        }
        return answered;
      });
      parts.push(...calls, ...results);
      const updated = await writeStreamingParts(db, messageId, parts);
      if (updated) await publishMessage(updated);
      prompt.push(...toolTurns(answer.text, calls, results));
    }
  }

  return {
    kind: REPLY_RUN,
    concurrency: 8,
    async execute(context) {
      const { projectId, threadId, messageId } = context.input;
      // The reply, the branch it answers (up to the reply itself), the thread and its
      // summaries in one read — or none, when the send here read them for this run.
      const warm = deps.handOff?.get(context.run.id);
      deps.handOff?.delete(context.run.id);
      const { branch, thread, summaries } =
        warm && warm.limit === maxContext + 1 && context.run.executions === 1
          ? warm
          : await replyContext(db, projectId, threadId, messageId, maxContext + 1);
      const message = branch.pop();
      // Stopped (or deleted) before it started: nothing to do.
      if (message?.id !== messageId || message.status !== 'streaming') return { messageId };
      try {
        if (!thread) throw new AppError('NOT_FOUND', 'thread not found');
        // The agent version the reply was made with.
        const agent =
          message.agent_id && message.agent_version
            ? await findAgentVersion(db, message.agent_id, message.agent_version)
            : undefined;
        const setup = await toolSetup(context.input, agent);
        const model = message.model ?? thread.model;
        const fitted = await fitContext(
          contextParts([agent?.instructions ?? '', thread.instructions], branch, summaries, {
            images: deps.acceptsImages?.(model) ?? false,
          }),
          {
            window: contextWindowOf(model) ?? DEFAULT_CONTEXT_WINDOW,
            outputReserve:
              (agent ? parametersOf(agent).maxOutputTokens : undefined) ??
              deps.defaultMaxOutputTokens,
            ...(setup.tools ? { tools: setup.tools } : {}),
          },
        );
        if (fitted.dropped > 0) await summarizeOutgrown(context.input, thread, message, agent);
        const reply = await converse(context, message, fitted.messages, agent, setup);
        const { usage, answer } = reply;
        const settled = await settleMessage(db, messageId, {
          status: 'done',
          content: reply.text,
          reasoning: reply.reasoning || null,
          provider: answer.result.provider,
          model: answer.result.model,
          llm_call_id: answer.result.callId,
          uncached_input_tokens: usage.uncachedInputTokens ?? null,
          cache_read_tokens: usage.cacheReadTokens ?? null,
          cache_write_tokens: usage.cacheWriteTokens ?? null,
          output_tokens: usage.outputTokens ?? null,
          reasoning_tokens: usage.reasoningTokens ?? null,
          cost_nano: reply.costNano,
          latency_ms: Math.round(reply.latencyMs),
          ttft_ms: reply.firstTokenMs === undefined ? null : Math.round(reply.firstTokenMs),
        });
        if (settled) await publishMessage(settled);
        return { messageId };
      } catch (error) {
        const stopped = stopOf(error, context.signal);
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
  if (error instanceof AppError && error.code === 'BUDGET_EXCEEDED') {
    // The thread says which budget stopped the reply (llm-budget-guard.ts `budgetExceeded`).
    const budget = (error.details ?? {}) as Record<string, unknown>;
    return {
      code: error.code,
      message: error.message,
      retryable: error.retryable,
      details: {
        scope: String(budget.scope ?? 'project'),
        period: String(budget.period ?? ''),
        limitNano: typeof budget.limitNano === 'number' ? budget.limitNano : null,
        spentNano: Number(budget.spentNano ?? 0),
      },
    };
  }
  if (error instanceof AppError)
    return { code: error.code, message: error.message, retryable: error.retryable };
  return { code: 'INTERNAL', message: 'The reply failed', retryable: false };
}
