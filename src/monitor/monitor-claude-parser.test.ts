import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { claudeFileInfo, parseClaudeTranscript } from './monitor-claude-parser.ts';
import { priceUsage } from './monitor-cost.ts';
import { CLAUDE_SESSION, writeClaudeProjects } from './monitor-test-helpers.ts';

const dir = mkdtempSync(path.join(os.tmpdir(), 'monitor-claude-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const { mainFile } = writeClaudeProjects(dir);
const content = readFileSync(mainFile, 'utf8');
const parsed = parseClaudeTranscript(content, {
  ...claudeFileInfo(mainFile),
  agentTypeFromMeta: null,
});

describe('Claude Code transcript parser', () => {
  it('keeps the last (largest) usage of each API message: first-wins counts 24 output tokens, the truth is 322', () => {
    const output = parsed.usage.reduce((sum, event) => sum + event.output, 0);
    expect(output).toBe(299 + 20 + 3);
    // What a parser keeping the first line of each message.id + requestId would count.
    const firstWins = new Map<string, number>();
    for (const line of content.split('\n')) {
      try {
        const entry = JSON.parse(line);
        const key = `${entry.message?.id}:${entry.requestId ?? ''}`;
        if (
          entry.type === 'assistant' &&
          entry.message.model !== '<synthetic>' &&
          !firstWins.has(key)
        ) {
          firstWins.set(key, entry.message.usage.output_tokens);
        }
      } catch {}
    }
    expect([...firstWins.values()].reduce((a, b) => a + b, 0)).toBe(24);
    expect(parsed.usage.map((event) => event.eventKey)).toEqual([
      'cc:msg_A:req_1',
      'cc:msg_B:req_2',
      'cc:msg_C:',
    ]);
  });

  it('keeps buckets disjoint and 1-hour cache writes apart', () => {
    const [a, b] = parsed.usage;
    expect(a).toMatchObject({
      input: 10,
      output: 299,
      cacheRead: 1000,
      cacheWrite: 100,
      cacheWrite1h: 0,
    });
    expect(b).toMatchObject({
      input: 5,
      output: 20,
      cacheRead: 500,
      cacheWrite: 200,
      cacheWrite1h: 200,
    });
  });

  it('prices 5-minute writes at 1.25× and 1-hour writes at 2× input; an unknown model costs null', () => {
    expect(parsed.usage.map((event) => priceUsage(event))).toEqual([
      { costNano: 5_190_000, basis: 'computed' },
      { costNano: 1_665_000, basis: 'computed' },
      { costNano: null, basis: 'unpriced' },
    ]);
  });

  it('counts bad lines with their line numbers and stops its offset before a partial last line', () => {
    expect(parsed.badLines).toEqual([
      { line: 9, reason: 'invalid JSON' },
      { line: 10, reason: 'unknown record type "hologram"' },
      { line: 13, reason: 'truncated last line' },
    ]);
    const complete = content.slice(0, content.lastIndexOf('\n') + 1);
    expect(parsed.byteOffset).toBe(Buffer.byteLength(complete));
    // Lines 1–8 and 10–12 are objects (10 has an unknown type); 9 and 13 are not.
    expect(parsed.records).toBe(11);
  });

  it('tolerates lines without sessionId and takes session, folder and branch from the others', () => {
    expect(parsed.sessions).toHaveLength(1);
    expect(parsed.sessions[0]).toMatchObject({
      sessionId: CLAUDE_SESSION,
      agentId: null,
      agentKind: 'main',
      cwd: '/home/dev/app',
      gitBranch: 'main',
    });
  });

  it('links a Task call to the agent its result names, with the subagent_type of its input', () => {
    expect(parsed.links).toEqual([
      {
        source: 'claude-code',
        sessionId: CLAUDE_SESSION,
        childRef: 'aac57f5',
        callId: 'toolu_1',
        agentType: 'Explore',
        description: 'Search the code',
      },
    ]);
    const task = parsed.parts.find((part) => part.toolName === 'Task');
    expect(task).toMatchObject({ callId: 'toolu_1', toolInput: { subagent_type: 'Explore' } });
  });

  it('reads a sub-agent and a compaction agent from their file names', () => {
    const subagent = path.join(
      path.dirname(mainFile),
      CLAUDE_SESSION,
      'subagents',
      'agent-aac57f5.jsonl',
    );
    const sub = parseClaudeTranscript(readFileSync(subagent, 'utf8'), {
      ...claudeFileInfo(subagent),
      agentTypeFromMeta: null,
    });
    expect(sub.sessions[0]).toMatchObject({
      sessionKey: `cc:${CLAUDE_SESSION}:aac57f5`,
      agentId: 'aac57f5',
      agentKind: 'subagent',
      parentSessionId: CLAUDE_SESSION,
    });
    expect(sub.usage).toHaveLength(1);
    expect(sub.usage[0]).toMatchObject({ input: 3, output: 40 });
    expect(claudeFileInfo('/x/s1/subagents/agent-acompact-9f1e2d.jsonl')).toEqual({
      sessionIdFromPath: 's1',
      agentId: 'acompact-9f1e2d',
    });
    const compaction = parseClaudeTranscript('', {
      sessionIdFromPath: 's1',
      agentId: 'acompact-9f1e2d',
      agentTypeFromMeta: null,
    });
    expect(compaction.sessions[0]).toMatchObject({
      agentKind: 'compaction',
      agentName: 'compaction',
    });
  });

  it('uses the reported cost when it is positive, not a zero', () => {
    const line = (costUSD: number) =>
      `${JSON.stringify({
        type: 'assistant',
        sessionId: 's',
        requestId: 'r',
        costUSD,
        timestamp: '2026-01-10T10:00:00Z',
        message: {
          id: 'm',
          model: 'claude-sonnet-4-5-20250929',
          usage: { input_tokens: 1000, output_tokens: 0 },
        },
      })}\n`;
    const info = { sessionIdFromPath: 's', agentId: null, agentTypeFromMeta: null };
    expect(priceUsage(parseClaudeTranscript(line(0.5), info).usage[0]!)).toEqual({
      costNano: 500_000_000,
      basis: 'reported',
    });
    expect(priceUsage(parseClaudeTranscript(line(0), info).usage[0]!)).toEqual({
      costNano: 3_000_000,
      basis: 'computed',
    });
  });
});
