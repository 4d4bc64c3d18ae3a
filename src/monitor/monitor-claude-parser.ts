import {
  type AgentLinkRow,
  clip,
  count,
  dateFrom,
  emptyParsed,
  type MessageRow,
  nanoFromUsd,
  type ParsedFile,
  type PartRow,
  RawJson,
  record,
  text,
  type UsageRow,
} from './monitor-records.ts';

/**
 * Claude Code transcripts: `projects/<dir>/<session>.jsonl`, one JSON record per line, and
 * `<session>/subagents/agent-<id>.jsonl` for the sub-agents the session started.
 *
 * Counting rule: Claude Code writes one line per content block (and stream snapshot) of an
 * API response, every one carrying the response's `usage` with `output_tokens` growing
 * (1 → 10 → 299). One API call is `message.id` + `requestId`; of its lines we keep the one
 * with the most output (the last, when equal). Keeping the first under-counts output 2–5×
 * (ccusage #797, #901, #938).
 */

/** Record types Claude Code writes; others are counted as bad lines (and kept nowhere). */
export const CLAUDE_RECORD_TYPES: readonly string[] = [
  'user',
  'assistant',
  'system',
  'summary',
  'progress',
  'file-history-snapshot',
  'queue-operation',
  'attachment',
  'custom-title',
];
const KNOWN_TYPES = new Set(CLAUDE_RECORD_TYPES);

/** Sub-agent tool names: `Task` (older releases) and `Agent`. */
const DELEGATION_TOOLS = new Set(['Task', 'Agent']);

export interface ClaudeFileInfo {
  /** The session id the file name gives (`<session>.jsonl`, `<session>/subagents/…`). */
  sessionIdFromPath: string;
  /** Set for `agent-<id>.jsonl` files. */
  agentId: string | null;
  /** `agentType` of a `agent-<id>.meta.json` beside the file, when there is one. */
  agentTypeFromMeta: string | null;
}

const SUBAGENT_FILE = /(?:^|[\\/])([^\\/]+)[\\/]subagents[\\/]agent-([A-Za-z0-9_-]{1,100})\.jsonl$/;

/** What a transcript's path says about it. */
export function claudeFileInfo(filePath: string): Omit<ClaudeFileInfo, 'agentTypeFromMeta'> {
  const subagent = SUBAGENT_FILE.exec(filePath);
  if (subagent) return { sessionIdFromPath: subagent[1]!, agentId: subagent[2]! };
  const name = filePath.split(/[\\/]/).pop() ?? filePath;
  return { sessionIdFromPath: name.replace(/\.jsonl$/, ''), agentId: null };
}

/** Compaction runs as an agent named `acompact-…`: not a delegation. */
export function isCompactionAgent(agentId: string): boolean {
  return agentId.startsWith('acompact');
}

export function claudeSessionKey(sessionId: string, agentId: string | null): string {
  return agentId === null ? `cc:${sessionId}` : `cc:${sessionId}:${agentId}`;
}

/**
 * A message's content blocks, and whether each is `message.content[i]` of its line at its own
 * index `i`: such a block's raw JSON is read from the line (the message row, see
 * monitor-tables.ts `monitor_part_json`) instead of being stored a second time. A string
 * content (made a text block here) or an array holding non-objects keeps its own raw JSON.
 */
function contentBlocks(message: Record<string, unknown>): {
  blocks: Record<string, unknown>[];
  inLine: boolean;
} {
  const content = message.content;
  if (typeof content === 'string')
    return { blocks: [{ type: 'text', text: content }], inLine: false };
  if (!Array.isArray(content)) return { blocks: [], inLine: false };
  const blocks = content.map(record).filter((block) => block !== null);
  return { blocks, inLine: blocks.length === content.length };
}

function resultText(content: unknown): string | null {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    const texts = content.map((item) => text(record(item)?.text)).filter((t) => t !== null);
    return texts.length > 0 ? texts.join('\n') : null;
  }
  return null;
}

/**
 * What a transcript's lines so far leave behind for the lines after them, so an appended
 * tail is parsed alone (live tailing) and ends in the rows a parse of the whole file gives.
 * Kept as JSON with the file's state; `lines` and `byteOffset` say where the tail starts.
 */
export interface ClaudeCheckpoint {
  version: 1;
  byteOffset: number;
  /** Lines before byteOffset (the tail's first line is lines + 1). */
  lines: number;
  sessionId: string | null;
  cwd: string | null;
  gitBranch: string | null;
  startedAt: number | null;
  endedAt: number | null;
  summary: string | null;
  records: number;
  /** Bad lines before byteOffset. */
  badLines: number;
  messages: number;
  delegations: [string, { agentType: string | null; description: string | null }][];
  agentOfCall: [string, string][];
}

export interface ParsedTranscript extends ParsedFile {
  checkpoint: ClaudeCheckpoint;
}

/**
 * A whole transcript, or with `resume` the lines after a checkpoint (`content` then starts at
 * its byteOffset; offsets and lines returned count from the file's start). A resumed parse
 * returns the new messages, parts and usage, and the session row and agent links of the whole
 * file (they replace the earlier ones).
 */
export function parseClaudeTranscript(
  content: string,
  info: ClaudeFileInfo,
  resume?: ClaudeCheckpoint,
): ParsedTranscript {
  const parsed = emptyParsed();
  const lines = content.split('\n');
  const endsWithNewline = content.endsWith('\n');
  let offset = resume?.byteOffset ?? 0;
  const firstLine = resume?.lines ?? 0;
  let sessionId: string | null = resume?.sessionId ?? null;
  let cwd: string | null = resume?.cwd ?? null;
  let gitBranch: string | null = resume?.gitBranch ?? null;
  let startedAt: Date | null = resume?.startedAt == null ? null : new Date(resume.startedAt);
  let endedAt: Date | null = resume?.endedAt == null ? null : new Date(resume.endedAt);
  let summary: string | null = resume?.summary ?? null;
  let records = resume?.records ?? 0;
  // Lines up to the end of the last complete one (what the next resume skips).
  let completeLines = firstLine;
  // One usage per API call, the line with the most output (later lines win ties). A call
  // whose lines straddle a resume gets a row from each parse; the store keeps the larger.
  const calls = new Map<string, UsageRow>();
  const delegations = new Map<string, { agentType: string | null; description: string | null }>(
    resume?.delegations,
  );
  const agentOfCall = new Map<string, string>(resume?.agentOfCall);

  const messages: MessageRow[] = [];
  const parts: PartRow[] = [];

  for (let index = 0; index < lines.length; index++) {
    const line = lines[index]!;
    const lineNo = firstLine + index + 1;
    const isLast = index === lines.length - 1;
    const lineBytes = Buffer.byteLength(line) + (isLast ? 0 : 1);
    if (isLast && line.length === 0) break;
    if (!isLast || endsWithNewline) completeLines = lineNo;
    if (line.trim().length === 0) {
      offset += lineBytes;
      continue;
    }
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      // A partial last line (the writer is mid-line) is read again from this offset later.
      parsed.badLines.push({
        line: lineNo,
        reason: isLast && !endsWithNewline ? 'truncated last line' : 'invalid JSON',
      });
      if (!(isLast && !endsWithNewline)) offset += lineBytes;
      else completeLines = lineNo - 1;
      continue;
    }
    offset += lineBytes;
    const entry = record(value);
    if (!entry) {
      parsed.badLines.push({ line: lineNo, reason: 'not a JSON object' });
      continue;
    }
    records++;
    const type = text(entry.type);
    if (type === null || !KNOWN_TYPES.has(type)) {
      parsed.badLines.push({
        line: lineNo,
        reason:
          type === null ? 'record without a type' : `unknown record type "${type.slice(0, 50)}"`,
      });
      continue;
    }
    // Lines without sessionId (file-history snapshots, queue operations) are fine.
    sessionId ??= text(entry.sessionId);
    cwd ??= text(entry.cwd);
    gitBranch ??= text(entry.gitBranch);
    const at = dateFrom(entry.timestamp);
    if (at) {
      if (!startedAt || at < startedAt) startedAt = at;
      if (!endedAt || at > endedAt) endedAt = at;
    }
    if (type === 'summary') summary ??= text(entry.summary);

    const sourceRef = `line:${lineNo}`;
    const sessionKey = claudeSessionKey(info.sessionIdFromPath, info.agentId);

    if (type === 'progress') {
      // A running sub-agent reports through its parent: data.agentId + parentToolUseID.
      const agentId = text(record(entry.data)?.agentId);
      const callId = text(entry.parentToolUseID);
      if (agentId && callId) agentOfCall.set(callId, agentId);
      continue;
    }
    if (type !== 'user' && type !== 'assistant') {
      messages.push({
        sessionKey,
        messageId: text(entry.uuid) ?? `line:${lineNo}`,
        role: type,
        model: null,
        provider: null,
        createdAt: at,
        raw: new RawJson(line),
        sourceRef,
      });
      continue;
    }
    const message = record(entry.message);
    if (!message) {
      parsed.badLines.push({ line: lineNo, reason: `${type} record without a message` });
      continue;
    }
    const messageId = text(entry.uuid) ?? `line:${lineNo}`;
    const model = text(message.model);
    messages.push({
      sessionKey,
      messageId,
      role: text(message.role) ?? type,
      model,
      provider: type === 'assistant' ? 'anthropic' : null,
      createdAt: at,
      raw: new RawJson(line),
      sourceRef,
    });

    const toolUseResult = record(entry.toolUseResult);
    const { blocks, inLine } = contentBlocks(message);
    blocks.forEach((block, blockIndex) => {
      const blockType = text(block.type) ?? 'other';
      const partId = `${messageId}:${blockIndex}`;
      const base: PartRow = {
        sessionKey,
        messageId,
        partId,
        type: blockType,
        text: null,
        toolName: null,
        callId: null,
        toolStatus: null,
        toolInput: null,
        toolOutput: null,
        toolError: null,
        childRef: null,
        // The line is stored whole with its message (same file and source_ref): the block is
        // read from there, not copied (a part per block would store each line twice).
        raw: inLine ? null : block,
        sourceRef,
      };
      if (blockType === 'text') base.text = text(block.text);
      else if (blockType === 'thinking') base.text = text(block.thinking);
      else if (blockType === 'tool_use') {
        base.toolName = text(block.name);
        base.callId = text(block.id);
        base.toolInput = block.input ?? null;
        if (base.callId && base.toolName && DELEGATION_TOOLS.has(base.toolName)) {
          const input = record(block.input);
          delegations.set(base.callId, {
            agentType: text(input?.subagent_type),
            description: text(input?.description),
          });
        }
      } else if (blockType === 'tool_result') {
        base.callId = text(block.tool_use_id);
        const output = resultText(block.content);
        base.toolStatus = block.is_error === true ? 'error' : 'completed';
        if (block.is_error === true) base.toolError = clip(output);
        else base.toolOutput = clip(output);
        const agentId = text(toolUseResult?.agentId);
        if (agentId && base.callId) {
          agentOfCall.set(base.callId, agentId);
          base.childRef = agentId;
        }
      }
      parts.push(base);
    });

    const usage = record(message.usage);
    if (type === 'assistant' && usage && model !== '<synthetic>') {
      if (usage.input_tokens === undefined && usage.output_tokens === undefined) {
        parsed.badLines.push({ line: lineNo, reason: 'usage without token counts' });
        continue;
      }
      const apiId = text(message.id) ?? messageId;
      const requestId = text(entry.requestId) ?? '';
      const eventKey = `cc:${apiId}:${requestId}`;
      const creation = record(usage.cache_creation);
      const write1h = count(creation?.ephemeral_1h_input_tokens);
      const cacheWrite = creation
        ? count(creation.ephemeral_5m_input_tokens) + write1h
        : count(usage.cache_creation_input_tokens);
      const row: UsageRow = {
        source: 'claude-code',
        eventKey,
        fallbackFor: null,
        sessionKey,
        messageId: apiId,
        ts: at,
        provider: 'anthropic',
        model,
        input: count(usage.input_tokens),
        // Claude's output_tokens include thinking: reasoning stays 0 so nothing counts twice.
        output: count(usage.output_tokens),
        reasoning: 0,
        cacheRead: count(usage.cache_read_input_tokens),
        cacheWrite,
        cacheWrite1h: write1h,
        reportedCostNano: nanoFromUsd(entry.costUSD),
        // `message.usage` of the line its message row keeps whole (see monitor_usage_json).
        raw: null,
        sourceRef,
      };
      const previous = calls.get(eventKey);
      if (!previous || row.output >= previous.output) calls.set(eventKey, row);
    }
  }

  const resolvedSessionId =
    info.agentId !== null ? info.sessionIdFromPath : (sessionId ?? info.sessionIdFromPath);
  const sessionKey = claudeSessionKey(resolvedSessionId, info.agentId);
  // Rows were keyed by the path's session id; a main transcript whose lines name another
  // session id (a renamed file) is keyed by what the lines say.
  const rekey = <T extends { sessionKey: string }>(row: T): T =>
    row.sessionKey === sessionKey ? row : { ...row, sessionKey };

  const links: AgentLinkRow[] = [];
  for (const [callId, agentId] of agentOfCall) {
    const delegation = delegations.get(callId);
    links.push({
      source: 'claude-code',
      sessionId: resolvedSessionId,
      childRef: agentId,
      callId,
      agentType: delegation?.agentType ?? null,
      description: delegation?.description ?? null,
    });
  }

  const agentKind =
    info.agentId === null ? 'main' : isCompactionAgent(info.agentId) ? 'compaction' : 'subagent';
  parsed.records = records;
  parsed.byteOffset = offset;
  parsed.sessions.push({
    source: 'claude-code',
    sessionKey,
    sessionId: resolvedSessionId,
    agentId: info.agentId,
    agentKind,
    agentName: agentKind === 'compaction' ? 'compaction' : info.agentTypeFromMeta,
    parentSessionId: info.agentId === null ? null : resolvedSessionId,
    title: summary,
    cwd,
    gitBranch,
    records: (resume?.messages ?? 0) + messages.length,
    startedAt,
    endedAt,
    raw: null,
    sourceRef: 'file',
  });
  parsed.messages = messages.map(rekey);
  parsed.parts = parts.map(rekey);
  parsed.links = links;
  parsed.usage = [...calls.values()].map(rekey);
  // A line that was valid JSON but is the last without its newline has been counted: the
  // next resume starts after it only if the writer finished it (then it ends in a newline).
  return {
    ...parsed,
    checkpoint: {
      version: 1,
      byteOffset: offset,
      lines: completeLines,
      sessionId,
      cwd,
      gitBranch,
      startedAt: startedAt?.getTime() ?? null,
      endedAt: endedAt?.getTime() ?? null,
      summary,
      records,
      badLines:
        (resume?.badLines ?? 0) + parsed.badLines.filter((bad) => bad.line <= completeLines).length,
      messages: (resume?.messages ?? 0) + messages.length,
      delegations: [...delegations],
      agentOfCall: [...agentOfCall],
    },
  };
}
