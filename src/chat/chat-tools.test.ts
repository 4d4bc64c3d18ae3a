import { describe, expect, it } from 'vitest';
import { AppError } from '../platform/app-error.ts';
import { type ChatToolPorts, capOutput, MAX_TOOL_OUTPUT_CHARS, runToolCall } from './chat-tools.ts';

// The tool runner's contract without a model: whatever a call holds, the answer is a result
// part (unknown tool, bad arguments, a throwing use case), and outputs stay small and JSON-safe.
const actor = {
  userId: '0190d7a4-0000-7000-8000-000000000001',
  isAdmin: false,
  via: 'system' as const,
  scopes: ['read' as const],
  credentialId: undefined,
};
const datasetId = '0190d7a4-0000-7000-8000-000000000002';

/** Ports that record what reaches them; `runSql` fails the way the sandbox does. */
function recordingPorts() {
  const seen: string[] = [];
  const ports = {
    sheets: {
      listDatasets: async () => [],
      getDataset: async () => {
        throw new Error('/var/lib/braincells/duckdb: internal detail');
      },
      runSql: async (_actor: unknown, _project: string, _dataset: string, sql: string) => {
        seen.push(sql);
        throw new AppError('VALIDATION_ERROR', 'Only SELECT is allowed');
      },
      readWindow: async () => {
        throw new Error('unreachable');
      },
    },
    search: {
      configured: false,
      search: async () => ({ ok: false as const, reason: 'no web search provider is configured' }),
    },
  } as unknown as ChatToolPorts;
  return { ports, seen };
}

const context = (enabled: ('query_sheet' | 'read_rows' | 'web_search')[]) => ({
  actor,
  projectId: '0190d7a4-0000-7000-8000-000000000003',
  enabled,
  signal: new AbortController().signal,
});

const call = (toolName: string, input: unknown) => ({
  type: 'tool-call' as const,
  toolCallId: 'call_1',
  toolName,
  input,
  step: 1,
});

describe('runToolCall', () => {
  it.each([
    ['an unknown tool', 'rm_rf', { path: '/' }, 'UNKNOWN_TOOL'],
    ['a tool the agent does not have', 'web_search', { query: 'x' }, 'UNKNOWN_TOOL'],
    ['arguments of the wrong type', 'query_sheet', { datasetId, sql: 42 }, 'INVALID_ARGUMENTS'],
    [
      'extra arguments',
      'query_sheet',
      { datasetId, sql: 'SELECT 1', drop: true },
      'INVALID_ARGUMENTS',
    ],
    ['arguments that are not an object', 'query_sheet', 'SELECT 1', 'INVALID_ARGUMENTS'],
    [
      'a use case that refuses',
      'query_sheet',
      { datasetId, sql: 'DROP TABLE x' },
      'VALIDATION_ERROR',
    ],
    ['a use case that crashes', 'read_rows', { datasetId }, 'INTERNAL'],
  ])('answers %s with an error result', async (_what, toolName, input, code) => {
    const { ports } = recordingPorts();
    const result = await runToolCall(
      ports,
      context(['query_sheet', 'read_rows']),
      call(toolName, input),
    );
    expect(result).toMatchObject({
      type: 'tool-result',
      toolCallId: 'call_1',
      isError: true,
      step: 1,
    });
    expect(result.output).toMatchObject({ error: { code } });
    // Internals of a crash never reach the model.
    expect(JSON.stringify(result.output)).not.toContain('/var/lib');
    expect(result.durationMs).toBeGreaterThanOrEqual(0);
  });

  it('passes valid SQL to the sheets use case untouched', async () => {
    const { ports, seen } = recordingPorts();
    await runToolCall(
      ports,
      context(['query_sheet']),
      call('query_sheet', { datasetId, sql: 'SELECT 1' }),
    );
    expect(seen).toEqual(['SELECT 1']);
  });

  it('an unconfigured web search is an error result, not a crash', async () => {
    const { ports } = recordingPorts();
    const result = await runToolCall(
      ports,
      context(['web_search']),
      call('web_search', { query: 'x' }),
    );
    expect(result).toMatchObject({
      isError: true,
      output: { error: { code: 'PROVIDER_UNAVAILABLE' } },
    });
  });
});

describe('capOutput', () => {
  it('keeps small outputs and turns bigints into strings', () => {
    expect(capOutput({ rows: [{ n: 3n }] })).toEqual({ rows: [{ n: '3' }] });
  });

  it('drops rows past the limit and says so', () => {
    const rows = Array.from({ length: 5_000 }, (_, index) => ({ index, text: 'x'.repeat(20) }));
    const capped = capOutput({ columns: [], rows }) as { rows: unknown[]; truncated: boolean };
    expect(capped.truncated).toBe(true);
    expect(capped.rows.length).toBeGreaterThan(0);
    expect(capped.rows.length).toBeLessThan(rows.length);
    expect(JSON.stringify(capped).length).toBeLessThanOrEqual(MAX_TOOL_OUTPUT_CHARS);
  });

  it('cuts any other large output to a string', () => {
    const capped = capOutput({ text: 'y'.repeat(100_000) }) as { truncated: boolean; text: string };
    expect(capped.truncated).toBe(true);
    expect(capped.text.length).toBe(MAX_TOOL_OUTPUT_CHARS);
  });
});
