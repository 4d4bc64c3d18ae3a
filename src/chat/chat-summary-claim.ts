import { uuidv7 } from '../platform/ids.ts';
import type { DurableRuns } from '../platform/jobs/durable-run.ts';
import { latestSummaryOn } from './chat-context.ts';
import { errorBody } from './chat-reply-run.ts';
import {
  branchUpTo,
  type ChatExecutor,
  claimSummary,
  findChatSettings,
  listSummaries,
  type SummaryRow,
  settleSummary,
  type ThreadRow,
} from './chat-store.ts';
import { SUMMARY_PROMPT_VERSION, SUMMARY_RUN, type SummaryInput } from './chat-summary-run.ts';
import type { ChatDb } from './chat-tables.ts';

/**
 * The model that summarizes: the agent version's summarizer, else the project's, else
 * `fallback` (the request's or the reply's model).
 */
export async function summarizerFor(
  db: ChatExecutor,
  projectId: string,
  agent: { summary_model: string | null; summary_provider: string | null } | undefined,
  fallback: { model: string; provider: string | null },
): Promise<{ model: string; provider: string | null }> {
  if (agent?.summary_model) return { model: agent.summary_model, provider: agent.summary_provider };
  const settings = await findChatSettings(db, projectId);
  if (settings?.summary_model)
    return { model: settings.summary_model, provider: settings.summary_provider };
  return fallback;
}

/**
 * The window a summary covers: the current branch from the previous summary (or the start) to
 * the message before the last exchange, which stays verbatim. Claiming it inserts the
 * `chat_summary` row unique per (thread, last covered message) before any model is called, so
 * "Summarize now" twice, or two servers that both see a thread outgrow its window, summarize
 * it once: the second claim finds the row and gets `claimed: false`.
 */
export type WindowClaim =
  | { ok: true; summary: SummaryRow }
  | { ok: false; reason: 'streaming' | 'nothing-new' | 'claimed' };

export async function claimSummaryWindow(
  db: ChatDb,
  thread: ThreadRow,
  options: {
    model: string;
    provider: string | null;
    userId: string | null;
    /** A reply streaming on the branch (the one that asks, for an automatic summary) is allowed. */
    allowStreamingId?: string;
    /** Automatic summaries wait for a pending one to finish rather than stack windows. */
    skipIfPending?: boolean;
    /** Runs in the claim's transaction (the audit entry of "Summarize now"). */
    onClaimed?: (tx: ChatExecutor, summary: SummaryRow) => Promise<void>;
  },
): Promise<WindowClaim> {
  if (!thread.current_leaf_id) return { ok: false, reason: 'nothing-new' };
  const branch = await branchUpTo(db, thread.id, thread.current_leaf_id, 100_000);
  if (
    branch.some(
      (message) => message.status === 'streaming' && message.id !== options.allowStreamingId,
    )
  )
    return { ok: false, reason: 'streaming' };
  // The last exchange stays verbatim (with a reply streaming, the exchange it answers).
  const through = branch.length - 3;
  const previous = latestSummaryOn(branch, await listSummaries(db, thread.id), ['pending', 'done']);
  const start = previous ? previous.index + 1 : 0;
  if (through - start + 1 < 2) return { ok: false, reason: 'nothing-new' };
  const claimed = await db.transaction().execute(async (tx) => {
    const row = await claimSummary(tx, {
      id: uuidv7(),
      thread_id: thread.id,
      through_message_id: branch[through]!.id,
      covered_messages: through - start + 1,
      status: 'pending',
      model: options.model,
      provider: options.provider,
      prompt_version: SUMMARY_PROMPT_VERSION,
      created_by: options.userId,
    });
    if (row && options.onClaimed) await options.onClaimed(tx, row);
    return row;
  });
  return claimed ? { ok: true, summary: claimed } : { ok: false, reason: 'claimed' };
}

/** Starts the summary run of a claimed window; a failure to start settles the row as error. */
export async function startSummaryRun(
  db: ChatDb,
  runs: Pick<DurableRuns, 'start'>,
  input: SummaryInput,
): Promise<void> {
  try {
    const run = await runs.start<SummaryInput>({
      kind: SUMMARY_RUN,
      projectId: input.projectId,
      input,
    });
    await db
      .updateTable('chat_summary')
      .set({ run_id: run.id })
      .where('id', '=', input.summaryId)
      .execute();
  } catch (error) {
    await settleSummary(db, input.summaryId, {
      status: 'error',
      error: JSON.stringify(errorBody(error)),
    });
    throw error;
  }
}
