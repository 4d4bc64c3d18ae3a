import type { LlmContentPart, LlmMessage } from '../llm/llm-provider.ts';
import { IMAGE_URL_PREFIX } from '../sheets/images/image-vision.ts';
import { type ChatImagePart, imagePartsOf } from './chat-attachments.ts';
import type { MessageRow, SummaryRow } from './chat-store.ts';
import type { ChatPart, ToolCallPart, ToolResultPart } from './chat-tools.ts';

/**
 * What a reply sends: the agent's and the thread's instructions (never summarized away), then
 * the latest finished summary on the branch, then the messages after it — a reply that used
 * tools as its calls and their results, then its text; reasoning is never sent back.
 */
export function contextMessages(
  instructions: string | readonly string[],
  branch: readonly MessageRow[],
  summaries: readonly SummaryRow[] = [],
  options: ContextOptions = {},
): LlmMessage[] {
  const { system, turns } = contextParts(instructions, branch, summaries, options);
  return [...system, ...turns.flat()];
}

/**
 * The context in two parts: `system` (instructions and the summary), which fitting never
 * drops, and `turns` — one group of LLM messages per chat message, oldest first, which fitting
 * drops from the front (chat-context-fit.ts).
 */
export function contextParts(
  instructions: string | readonly string[],
  branch: readonly MessageRow[],
  summaries: readonly SummaryRow[] = [],
  options: ContextOptions = {},
): { system: LlmMessage[]; turns: LlmMessage[][] } {
  const system: LlmMessage[] = [];
  for (const text of typeof instructions === 'string' ? [instructions] : instructions)
    if (text.trim()) system.push({ role: 'system', content: text });
  const latest = latestSummaryOn(branch, summaries);
  if (latest)
    system.push({
      role: 'system',
      content: `Summary of the earlier conversation (${latest.summary.covered_messages} messages):\n${latest.summary.content}`,
    });
  const turns: LlmMessage[][] = [];
  for (const message of latest ? branch.slice(latest.index + 1) : branch) {
    if (message.role === 'user') turns.push([userTurn(message, options.images ?? true)]);
    else {
      const turn = storedToolTurns(message.parts);
      if (message.content.length > 0) turn.push({ role: 'assistant', content: message.content });
      if (turn.length > 0) turns.push(turn);
    }
  }
  return { system, turns };
}

export interface ContextOptions {
  /**
   * Whether the model takes images (default true): a user message's images go as image parts;
   * for a model that does not, as a line of text naming each (an earlier image of the thread
   * never blocks a reply from a text model).
   */
  images?: boolean;
}

/**
 * A user message: its text, then its images as image parts. The part carries the image by hash
 * (`braincells-image:<sha256>`, as vision columns do); the bytes of the thread's project are
 * put in just before the call (withImageInputs in image-vision.ts), so the LLM port only sees
 * data URLs, and a hash the project does not hold fails the call before anything is sent.
 */
function userTurn(message: MessageRow, images: boolean): LlmMessage {
  const parts = imagePartsOf(message.parts);
  if (parts.length === 0) return { role: 'user', content: message.content };
  if (!images)
    return {
      role: 'user',
      content: [message.content, ...parts.map(imageNote)].filter(Boolean).join('\n'),
    };
  const content: LlmContentPart[] = [];
  if (message.content.trim()) content.push({ type: 'text', text: message.content });
  for (const part of parts) {
    content.push({
      type: 'image',
      url: `${IMAGE_URL_PREFIX}${part.sha256}`,
      mediaType: part.mediaType,
    });
    if (part.alt) content.push({ type: 'text', text: `(Image description: ${part.alt})` });
  }
  return { role: 'user', content };
}

const imageNote = (part: ChatImagePart) =>
  `[image${part.name ? ` ${part.name}` : ''}${part.alt ? `: ${part.alt}` : ''} (not shown to this model)]`;

/** A model step that called tools, and the results: an assistant turn and a tool turn. */
export function toolTurns(
  text: string,
  calls: readonly ToolCallPart[],
  results: readonly ToolResultPart[],
): LlmMessage[] {
  return [
    {
      role: 'assistant',
      content: [
        ...(text ? [{ type: 'text' as const, text }] : []),
        ...calls.map(({ toolCallId, toolName, input }) => ({
          type: 'tool-call' as const,
          toolCallId,
          toolName,
          input,
        })),
      ],
    },
    {
      role: 'tool',
      content: results.map(({ toolCallId, toolName, output, isError }) => ({
        type: 'tool-result' as const,
        toolCallId,
        toolName,
        output,
        isError,
      })),
    },
  ];
}

/** The tool rounds stored in a reply's parts, step by step (a call without a result is dropped). */
function storedToolTurns(parts: unknown): LlmMessage[] {
  if (!Array.isArray(parts) || parts.length === 0) return [];
  const steps = new Map<number, { calls: ToolCallPart[]; results: ToolResultPart[] }>();
  for (const part of parts as (ChatPart | ChatImagePart)[]) {
    if (part.type === 'image') continue;
    const entry = steps.get(part.step) ?? { calls: [], results: [] };
    if (part.type === 'tool-call') entry.calls.push(part);
    else if (part.type === 'tool-result') entry.results.push(part);
    steps.set(part.step, entry);
  }
  const turns: LlmMessage[] = [];
  for (const { calls, results } of steps.values()) {
    const answered = calls.filter((call) =>
      results.some((result) => result.toolCallId === call.toolCallId),
    );
    if (answered.length > 0) turns.push(...toolTurns('', answered, results));
  }
  return turns;
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
