import type { LlmMessage } from '../llm/llm-provider.ts';
import type { LlmService } from '../llm/llm-service.ts';
import { countOutputTokens, estimateInputTokens } from '../llm/llm-tokens.ts';
import type { EventBus } from '../platform/events.ts';
import type { RunKind } from '../platform/jobs/durable-run.ts';
import { latestSummaryOn, transcriptOf } from './chat-context.ts';
import { errorBody, stopOf, threadStream } from './chat-reply-run.ts';
import { branchUpTo, findSummary, listSummaries, settleSummary } from './chat-store.ts';
import type { ChatDb } from './chat-tables.ts';

/**
 * Visible summaries (compaction), explicit and never silent: "Summarize now" claims a window
 * of the branch (a `chat_summary` row, unique per thread and window) and starts this run,
 * which asks the model once (a checkpointed step) and fills the row. Replies then send the
 * thread's instructions, the latest summary on their branch, and the messages after it; the
 * originals stay in the thread. Token counts come from the tokenizer (llm-tokens.ts).
 */
export const SUMMARY_RUN = 'chat.summarize';
export const SUMMARY_PROMPT_VERSION = 1;

const SUMMARIZER = [
  'You summarize a conversation so that it can continue without the earlier messages.',
  'Keep facts, decisions, names, numbers, open questions and what the user asked for.',
  'Write plain prose, at most 300 words. Do not add anything that was not said.',
].join(' ');

export interface SummaryInput {
  projectId: string;
  threadId: string;
  summaryId: string;
  userId: string | null;
}

export function createSummaryRun(deps: {
  db: ChatDb;
  llm: LlmService;
  events: EventBus;
}): RunKind<SummaryInput, { summaryId: string }> {
  const { db, llm, events } = deps;
  return {
    kind: SUMMARY_RUN,
    concurrency: 2,
    async execute(context) {
      const { projectId, threadId, summaryId, userId } = context.input;
      const summary = await findSummary(db, summaryId);
      if (summary?.status !== 'pending') return { summaryId };
      try {
        const branch = await branchUpTo(db, threadId, summary.through_message_id, 100_000);
        const previous = latestSummaryOn(
          branch.slice(0, -1),
          (await listSummaries(db, threadId)).filter((row) => row.id !== summaryId),
        );
        const covered = branch.slice(previous ? previous.index + 1 : 0);
        const transcript = [
          previous ? `Summary of what came before:\n${previous.summary.content}` : '',
          transcriptOf(covered),
        ]
          .filter(Boolean)
          .join('\n\n');
        const prompt: LlmMessage[] = [
          { role: 'system', content: SUMMARIZER },
          { role: 'user', content: transcript },
        ];
        const answer = await context.step('summary', async () => {
          const result = await llm.generate({
            projectId,
            userId: userId ?? undefined,
            feature: 'chat',
            entityIds: { threadId, summaryId },
            ...(summary.provider ? { provider: summary.provider } : {}),
            model: summary.model,
            messages: prompt,
            signal: context.signal,
            cache: 'off',
          });
          return { text: result.text.trim(), costNano: result.costNano, model: result.model };
        });
        if (!answer.text) throw new Error('The summary came back empty');
        const settled = await settleSummary(db, summaryId, {
          status: 'done',
          content: answer.text,
          model: answer.model,
          source_tokens: await estimateInputTokens(
            [{ role: 'user', content: transcriptOf(covered) }],
            undefined,
            { safety: false },
          ),
          summary_tokens: await countOutputTokens(answer.text),
          cost_nano: answer.costNano,
        });
        if (settled)
          await events.publish(threadStream(threadId), {
            type: 'summary-updated',
            data: { id: summaryId, status: 'done' },
          });
        return { summaryId };
      } catch (error) {
        const stopped = stopOf(error, context.signal);
        if (stopped && stopped.reason !== 'cancelled') throw error;
        const settled = await settleSummary(db, summaryId, {
          status: 'error',
          error: JSON.stringify(errorBody(error)),
        });
        if (settled)
          await events.publish(threadStream(threadId), {
            type: 'summary-updated',
            data: { id: summaryId, status: 'error' },
          });
        throw error;
      }
    },
  };
}
