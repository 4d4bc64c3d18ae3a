/**
 * What a parser makes of one source file (a Claude Code transcript, an OpenCode JSON file or
 * database): normalized rows, each with its raw JSON and its place in the file. Pure data;
 * the store writes it, the pricing step fills in costs.
 */

export type MonitorSource = 'claude-code' | 'opencode';

export interface BadLine {
  /** 1-based line (JSONL), or 0 for a whole file or database row that could not be read. */
  line: number;
  reason: string;
}

export interface SessionRow {
  source: MonitorSource;
  sessionKey: string;
  sessionId: string;
  /** Claude Code sub-agent id (`aac57f5` of `agent-aac57f5.jsonl`); null for a main session. */
  agentId: string | null;
  agentKind: 'main' | 'subagent' | 'compaction';
  /** The agent's own name where the source gives one (OpenCode `agent`, a `.meta.json`). */
  agentName: string | null;
  parentSessionId: string | null;
  title: string | null;
  cwd: string | null;
  gitBranch: string | null;
  records: number;
  startedAt: Date | null;
  endedAt: Date | null;
  raw: unknown;
  sourceRef: string;
}

/**
 * A record's JSON exactly as the source wrote it (a Claude Code line): stored as it is, not
 * parsed and serialized again — the bytes are the record's own (big numbers, escapes and key
 * order kept), and a large transcript is not serialized a second time on import.
 */
export class RawJson {
  readonly text: string;
  constructor(text: string) {
    this.text = text;
  }
}

export interface MessageRow {
  sessionKey: string;
  messageId: string;
  role: string | null;
  model: string | null;
  provider: string | null;
  createdAt: Date | null;
  /** The record: a value to serialize, or a RawJson holding the source's own text. */
  raw: unknown;
  sourceRef: string;
}

export interface PartRow {
  sessionKey: string;
  messageId: string | null;
  partId: string;
  type: string;
  text: string | null;
  toolName: string | null;
  callId: string | null;
  toolStatus: string | null;
  toolInput: unknown;
  toolOutput: string | null;
  toolError: string | null;
  /** The sub-agent (Claude Code agent id) or child session (OpenCode) a Task call started. */
  childRef: string | null;
  raw: unknown;
  sourceRef: string;
}

export interface AgentLinkRow {
  source: MonitorSource;
  /** The session the delegating call ran in. */
  sessionId: string;
  /** Claude Code: the sub-agent id; OpenCode: the child session id. */
  childRef: string;
  callId: string | null;
  agentType: string | null;
  description: string | null;
}

/** Disjoint token buckets of one billable model call. */
export interface TokenBuckets {
  input: number;
  output: number;
  reasoning: number;
  cacheRead: number;
  /** Every cache write, 1-hour ones included. */
  cacheWrite: number;
  /** The part of cacheWrite written for 1 hour (Anthropic prices it 2× input, 5-minute 1.25×). */
  cacheWrite1h: number;
}

export interface UsageRow extends TokenBuckets {
  source: MonitorSource;
  /** Dedup key: `cc:<message.id>:<requestId>`, `oc:<partId>`, `oc:msg:<messageId>`. */
  eventKey: string;
  /** Set on an OpenCode message's own tokens: counted only when the message has no step parts. */
  fallbackFor: string | null;
  sessionKey: string;
  messageId: string | null;
  ts: Date | null;
  provider: string | null;
  model: string | null;
  /** What the log says the call cost, nano-USD; null when it says nothing. */
  reportedCostNano: number | null;
  raw: unknown;
  sourceRef: string;
}

export interface ParsedFile {
  /** Records read (JSONL lines holding an object; OpenCode sessions, messages and parts). */
  records: number;
  badLines: BadLine[];
  /** Bytes up to the end of the last complete line (a partial last line is read again later). */
  byteOffset: number;
  sessions: SessionRow[];
  messages: MessageRow[];
  parts: PartRow[];
  links: AgentLinkRow[];
  usage: UsageRow[];
}

export function emptyParsed(): ParsedFile {
  return {
    records: 0,
    badLines: [],
    byteOffset: 0,
    sessions: [],
    messages: [],
    parts: [],
    links: [],
    usage: [],
  };
}

/** A finite non-negative integer, else 0: token fields absent from a record count as none. */
export function count(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? Math.round(value) : 0;
}

export function text(value: unknown): string | null {
  return typeof value === 'string' && value.length > 0 ? value : null;
}

export function record(value: unknown): Record<string, unknown> | null {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : null;
}

export function dateFrom(value: unknown): Date | null {
  if (typeof value !== 'string' && typeof value !== 'number') return null;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? null : date;
}

/** USD as logged → nano-USD; null when absent or not a number. */
export function nanoFromUsd(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? Math.round(value * 1e9) : null;
}

const TOOL_OUTPUT_MAX = 10_000;

/** Tool output kept in its column (the raw JSON keeps all of it). */
export function clip(value: string | null): string | null {
  return value !== null && value.length > TOOL_OUTPUT_MAX ? value.slice(0, TOOL_OUTPUT_MAX) : value;
}
