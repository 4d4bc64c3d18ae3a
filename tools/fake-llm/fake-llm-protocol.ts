import { imagePartText } from './fake-llm-images.ts';
import type { Answer, AnswerMode, PromptText } from './fake-llm-output.ts';

/** Token counts of one completion, in the fake's own terms (see README "Token counting"). */
export interface FakeUsage {
  /** Uncached input tokens: ceil(characters / 4) of the request text. */
  inputTokens: number;
  /** Visible output tokens: one per streamed piece. */
  outputTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
  reasoningTokens: number;
}

/** Everything a provider encoder needs to write one completion. */
export interface Completion {
  /** Provider-style id (`chatcmpl-…`, `msg_…`, `resp_…`). */
  id: string;
  /** Id of the tool call when `answer.kind === 'tool'`. */
  toolCallId: string;
  /** The base model name, without the `@controls` suffix. */
  model: string;
  /** Unix seconds. */
  created: number;
  answer: Answer;
  /** Undefined when the `no-usage` control is set. */
  usage: FakeUsage | undefined;
  /** OpenAI chat: `stream_options.include_usage`. */
  includeUsage: boolean;
  /** Echoed back by the Responses API. */
  request: Readonly<Record<string, unknown>>;
}

/** The fields the server reads from a request body, whatever the provider. */
export interface ParsedRequest {
  model: string;
  stream: boolean;
  includeUsage: boolean;
  maxTokens: number | undefined;
  mode: AnswerMode;
  prompt: PromptText;
}

/** Writes one streamed completion as SSE text, one method per moment of the stream. */
export interface StreamEncoder {
  /** Events before the first content piece (role chunk, message_start, …). */
  open(): string;
  /** One content piece (a text delta or a piece of tool-call arguments). */
  piece(text: string): string;
  /** A chunk whose JSON is cut off: what a broken proxy or a bug upstream produces. */
  malformed(): string;
  /** The provider's in-stream error event for `status` (else its usual one); the stream ends. */
  error(status: number | undefined): string;
  /** Events after the last piece (finish reason, usage, `[DONE]`). */
  close(): string;
}

/** One provider's wire format. */
export interface Protocol {
  /** Reads a request body, or returns the message of a 400 answer. */
  parseRequest(body: unknown): ParsedRequest | { invalid: string };
  /** Prefix for completion ids. */
  idPrefix: string;
  /** Prefix for tool call ids. */
  toolIdPrefix: string;
  /** Non-streaming response body. */
  body(completion: Completion): string;
  stream(completion: Completion): StreamEncoder;
}

/** Builds the provider's error body for a status; `code` overrides the default code. */
export type ErrorBody = (status: number, message?: string, code?: string) => string;

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Text of a content value: a string, or an array of parts carrying `text` (or nested content). */
export function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  const texts: string[] = [];
  for (const part of content) {
    if (typeof part === 'string') texts.push(part);
    else if (isRecord(part)) {
      const image = imagePartText(part);
      if (image !== undefined) texts.push(image);
      else if (typeof part.text === 'string') texts.push(part.text);
      else if (part.content !== undefined) texts.push(contentText(part.content));
      else if (typeof part.output === 'string') texts.push(part.output);
    }
  }
  return texts.join('\n');
}

export function optionalNumber(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

/** The tool a forced tool choice points at: the named one, else `json`, else the first. */
export function pickTool<T>(tools: readonly T[], nameOf: (tool: T) => unknown, name?: unknown) {
  if (typeof name === 'string') return tools.find((tool) => nameOf(tool) === name);
  return tools.find((tool) => nameOf(tool) === 'json') ?? tools[0];
}

/**
 * Auto tool choice: the fake calls a tool only when the last turn is the user's and names it
 * as `call:<tool name>` (a tool result as the last turn gets a text answer), so a test decides
 * when a model "wants" a tool. `loop:<tool name>` in the latest user message makes it call
 * that tool on every turn, tool results included, so a caller's bound on tool rounds can be
 * tested (`latestUserText`: that message, whatever came after it).
 */
export function namedTool<T>(
  tools: readonly T[],
  nameOf: (tool: T) => unknown,
  lastUserTurn: string | undefined,
  latestUserText?: string,
): T | undefined {
  const match =
    (lastUserTurn === undefined ? null : /\b(?:call|loop):([A-Za-z0-9_-]+)/.exec(lastUserTurn)) ??
    (latestUserText === undefined ? null : /\bloop:([A-Za-z0-9_-]+)/.exec(latestUserText));
  return match ? tools.find((tool) => nameOf(tool) === match[1]) : undefined;
}

/** Joins SSE fields into one event: `event:` line when named, `data:` line, blank line. */
export function sse(data: string, event?: string): string {
  return event === undefined ? `data: ${data}\n\n` : `event: ${event}\ndata: ${data}\n\n`;
}
