import { describe, expect, it } from 'vitest';
import { AppError } from '../platform/app-error.ts';
import type { AgentToolName } from './chat-tables.ts';
import {
  type ChatToolPorts,
  capOutput,
  MAX_TOOL_OUTPUT_CHARS,
  runToolCall,
  toolDefinitions,
} from './chat-tools.ts';

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

const context = (enabled: AgentToolName[]) => ({
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

describe('list_datasets', () => {
  // 53 ready datasets and one still importing, the way the sheets service lists them.
  const datasets = [
    ...Array.from({ length: 53 }, (_, index) => ({
      id: `0190d7a4-0000-7000-8000-${String(index).padStart(12, '0')}`,
      name: index === 7 ? 'Invoices 2026' : `Sheet ${index}`,
      status: 'ready',
      rowCount: index * 10,
      columns: [
        { id: 'c1', name: 'vendor', type: 'text', kind: 'static' },
        { id: 'c2', name: 'amount', type: 'number', kind: 'static' },
      ],
    })),
    { id: 'importing', name: 'Invoices draft', status: 'importing', rowCount: null, columns: [] },
  ];
  const ports = {
    sheets: { listDatasets: async () => datasets },
    search: { configured: false },
  } as unknown as ChatToolPorts;

  it('pages through the ready datasets with id, name, row count and columns', async () => {
    const first = await runToolCall(ports, context(['list_datasets']), call('list_datasets', {}));
    expect(first.isError).toBe(false);
    const page = first.output as {
      total: number;
      offset: number;
      nextOffset: number | null;
      datasets: { id: string; name: string; rowCount: number; columns: unknown[] }[];
    };
    expect(page).toMatchObject({ total: 53, offset: 0, nextOffset: 50 });
    expect(page.datasets).toHaveLength(50);
    expect(page.datasets[1]).toEqual({
      id: datasets[1]!.id,
      name: 'Sheet 1',
      rowCount: 10,
      columns: [
        { name: 'vendor', type: 'text' },
        { name: 'amount', type: 'number' },
      ],
    });
    const last = await runToolCall(
      ports,
      context(['list_datasets']),
      call('list_datasets', { offset: 50 }),
    );
    expect(last.output).toMatchObject({ total: 53, offset: 50, nextOffset: null });
    expect((last.output as { datasets: unknown[] }).datasets).toHaveLength(3);

    // By name, case-insensitive; a dataset still importing is not listed.
    const found = await runToolCall(
      ports,
      context(['list_datasets']),
      call('list_datasets', { query: 'INVOICES', limit: 5 }),
    );
    expect(found.output).toMatchObject({
      total: 1,
      nextOffset: null,
      datasets: [{ name: 'Invoices 2026', rowCount: 70 }],
    });
    const tooMany = await runToolCall(
      ports,
      context(['list_datasets']),
      call('list_datasets', { limit: 500 }),
    );
    expect(tooMany.output).toMatchObject({ error: { code: 'INVALID_ARGUMENTS' } });
  });

  it('tells the model when the SQL tools list only the first 50 datasets, and where the rest are', async () => {
    const definitions = await toolDefinitions(ports, {
      actor,
      projectId: 'p',
      enabled: ['query_sheet', 'list_datasets'],
    });
    const [query, list] = definitions;
    expect(query!.description).toContain('(the first 50 of 53; list_datasets finds the others)');
    expect(query!.description).not.toContain('Sheet 52');
    // The listing tool's own description carries no catalogue.
    expect(list!.description).not.toContain('Datasets (name: id)');
    expect(list!.inputSchema).toMatchObject({ properties: { limit: { maximum: 50 } } });
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
