import type { LlmMessage } from '../llm/llm-provider.ts';
import type { MessageRow, SummaryRow } from './chat-store.ts';

/**
 * What a reply sends: the thread's instructions (never summarized away), then the latest
 * finished summary on the branch, then the messages after it; reasoning is never sent back.
 */
export function contextMessages(
  instructions: string,
  branch: readonly MessageRow[],
  summaries: readonly SummaryRow[] = [],
): LlmMessage[] {
  const messages: LlmMessage[] = [];
  if (instructions.trim()) messages.push({ role: 'system', content: instructions });
  const latest = latestSummaryOn(branch, summaries);
  if (latest)
    messages.push({
      role: 'system',
      content: `Summary of the earlier conversation (${latest.summary.covered_messages} messages):\n${latest.summary.content}`,
    });
  for (const message of latest ? branch.slice(latest.index + 1) : branch) {
    if (message.role === 'user') messages.push({ role: 'user', content: message.content });
    else if (message.content.length > 0)
      messages.push({ role: 'assistant', content: message.content });
  }
  return messages;
}

/** The index in `branch` of the last message a finished summary covers, and that summary. */
export function latestSummaryOn(
  branch: readonly MessageRow[],
  summaries: readonly SummaryRow[],
  statuses: readonly SummaryRow['status'][] = ['done'],
): { index: number; summary: SummaryRow } | undefined {
  const byThrough = new Map(
    summaries
      .filter((summary) => statuses.includes(summary.status))
      .map((summary) => [summary.through_message_id, summary]),
  );
  for (let index = branch.length - 1; index >= 0; index--) {
    const summary = byThrough.get(branch[index]!.id);
    if (summary) return { index, summary };
  }
  return undefined;
}

export function transcriptOf(messages: readonly MessageRow[]): string {
  return messages
    .filter((message) => message.content.length > 0)
    .map((message) => `${message.role === 'user' ? 'User' : 'Assistant'}: ${message.content}`)
    .join('\n\n');
}
