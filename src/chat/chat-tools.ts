import { z } from 'zod';
import type { Actor } from '../access/actor.ts';
import type { LlmToolCallPart, LlmToolDefinition } from '../llm/llm-provider.ts';
import { AppError } from '../platform/app-error.ts';
import type { SearchService } from '../sheets/generation/search/search-service.ts';
import type { SheetService } from '../sheets/sheet-service.ts';
import type { AgentToolName } from './chat-tables.ts';

/**
 * The built-in tools of chat agents. Each runs through another feature's use cases with the
 * access of the user whose message is answered: `query_sheet` is the sheets service's
 * read-only SQL (its sandbox, timeout and row cap — never DuckDB directly), `read_rows` its
 * window read, `list_datasets` its dataset list (a page of ids, names, row counts and columns,
 * for projects with more datasets than a tool description lists), `web_search` the search
 * service of AI columns. A tool never throws into the
 * reply: an unknown tool, invalid arguments or a failure becomes a result with `isError`, which
 * the model sees and may act on.
 */
export interface ChatToolPorts {
  sheets: Pick<SheetService, 'listDatasets' | 'getDataset' | 'runSql' | 'readWindow'>;
  search: Pick<SearchService, 'search' | 'configured'>;
}

/** A tool call as stored in a message's parts (the model's step that made it). */
export interface ToolCallPart extends LlmToolCallPart {
  step: number;
}

/** A tool's answer as stored in a message's parts. */
export interface ToolResultPart {
  type: 'tool-result';
  toolCallId: string;
  toolName: string;
  output: unknown;
  isError: boolean;
  durationMs: number;
  step: number;
}

export type ChatPart = ToolCallPart | ToolResultPart;

/** Characters of JSON a tool result may send back to the model. */
export const MAX_TOOL_OUTPUT_CHARS = 16_000;
const MAX_LISTED_DATASETS = 50;

const datasetId = z.uuid();
const inputSchemas = {
  query_sheet: z.strictObject({ datasetId, sql: z.string().min(1).max(10_000) }),
  read_rows: z.strictObject({
    datasetId,
    offset: z.number().int().min(0).default(0),
    limit: z.number().int().min(1).max(100).default(20),
  }),
  web_search: z.strictObject({ query: z.string().trim().min(1).max(400) }),
  list_datasets: z.strictObject({
    /** Names containing this (case-insensitive); all when absent. */
    query: z.string().trim().max(200).optional(),
    offset: z.number().int().min(0).default(0),
    limit: z.number().int().min(1).max(MAX_LISTED_DATASETS).default(MAX_LISTED_DATASETS),
  }),
} satisfies Record<AgentToolName, z.ZodType>;

const descriptions: Record<AgentToolName, string> = {
  query_sheet:
    'Read-only SQL over one dataset of this project: SELECT … FROM dataset (the table is always named dataset; columns by their names). Returns columns and rows.',
  read_rows: 'Reads a window of rows of one dataset of this project (offset, limit ≤ 100).',
  web_search: 'Searches the web; returns titles, URLs and snippets.',
  list_datasets:
    "Lists this project's datasets by name (optionally those whose name contains `query`), a page at a time (offset, limit ≤ 50): id, name, row count and columns (name, type) of each, the total and the next page's offset (null after the last).",
};

export interface ToolContext {
  actor: Actor;
  projectId: string;
  enabled: readonly AgentToolName[];
  signal: AbortSignal;
}

/** The definitions sent to the model; dataset tools list the project's datasets by name and id. */
export async function toolDefinitions(
  ports: ChatToolPorts,
  context: Omit<ToolContext, 'signal'>,
): Promise<LlmToolDefinition[]> {
  const readsDataset = (tool: AgentToolName) => tool === 'query_sheet' || tool === 'read_rows';
  let catalogue = '';
  if (context.enabled.some(readsDataset)) {
    const datasets = await ports.sheets
      .listDatasets(context.actor, context.projectId)
      .catch(() => []);
    const ready = datasets.filter((dataset) => dataset.status === 'ready');
    // Past the first 50 the model is told how many there are, and how to find the rest.
    const more =
      ready.length > MAX_LISTED_DATASETS
        ? ` (the first ${MAX_LISTED_DATASETS} of ${ready.length}${
            context.enabled.includes('list_datasets') ? '; list_datasets finds the others' : ''
          })`
        : '';
    catalogue = ready.length
      ? ` Datasets (name: id)${more}: ${ready
          .slice(0, MAX_LISTED_DATASETS)
          .map((dataset) => `${JSON.stringify(dataset.name)}: ${dataset.id}`)
          .join('; ')}.`
      : ' The project has no datasets yet.';
  }
  return context.enabled.map((name) => ({
    name,
    description: descriptions[name] + (readsDataset(name) ? catalogue : ''),
    inputSchema: z.toJSONSchema(inputSchemas[name], { io: 'input' }) as Record<string, unknown>,
  }));
}

/** Runs one call; whatever happens, answers a result part (never throws but for cancellation). */
export async function runToolCall(
  ports: ChatToolPorts,
  context: ToolContext,
  call: ToolCallPart,
  now: () => number = performance.now.bind(performance),
): Promise<ToolResultPart> {
  const started = now();
  const result = (output: unknown, isError: boolean): ToolResultPart => ({
    type: 'tool-result',
    toolCallId: call.toolCallId,
    toolName: call.toolName,
    output: capOutput(output),
    isError,
    durationMs: Math.round(now() - started),
    step: call.step,
  });
  const name = call.toolName as AgentToolName;
  if (!context.enabled.includes(name))
    return result(
      {
        error: {
          code: 'UNKNOWN_TOOL',
          message: `No tool named ${call.toolName}; available: ${context.enabled.join(', ') || 'none'}`,
        },
      },
      true,
    );
  const parsed = inputSchemas[name].safeParse(call.input);
  if (!parsed.success)
    return result(
      {
        error: {
          code: 'INVALID_ARGUMENTS',
          message: 'The arguments do not match the tool input schema',
          issues: parsed.error.issues.map((issue) => ({
            path: issue.path.join('.'),
            message: issue.message,
          })),
        },
      },
      true,
    );
  try {
    return result(await execute(ports, context, name, parsed.data), false);
  } catch (error) {
    if (context.signal.aborted) throw context.signal.reason;
    return result({ error: toolError(error) }, true);
  }
}

async function execute(
  ports: ChatToolPorts,
  context: ToolContext,
  name: AgentToolName,
  input: unknown,
): Promise<unknown> {
  const { actor, projectId } = context;
  if (name === 'query_sheet') {
    const { datasetId, sql } = input as z.infer<typeof inputSchemas.query_sheet>;
    return ports.sheets.runSql(actor, projectId, datasetId, sql);
  }
  if (name === 'read_rows') {
    const { datasetId, offset, limit } = input as z.infer<typeof inputSchemas.read_rows>;
    const dataset = await ports.sheets.getDataset(actor, projectId, datasetId);
    const names = new Map(dataset.columns.map((column) => [column.id, column.name]));
    const window = await ports.sheets.readWindow(actor, projectId, datasetId, { offset, limit });
    return {
      total: window.total,
      offset: window.offset,
      rows: window.rows.map((row) => ({
        rowId: row.rowId,
        values: Object.fromEntries(
          Object.entries(row.cells).map(([id, cell]) => [names.get(id) ?? id, cell.value]),
        ),
      })),
    };
  }
  if (name === 'list_datasets') {
    const { query, offset, limit } = input as z.infer<typeof inputSchemas.list_datasets>;
    const needle = query?.toLowerCase() ?? '';
    const found = (await ports.sheets.listDatasets(actor, projectId)).filter(
      (dataset) => dataset.status === 'ready' && dataset.name.toLowerCase().includes(needle),
    );
    const page = found.slice(offset, offset + limit);
    return {
      total: found.length,
      offset,
      nextOffset: offset + page.length < found.length ? offset + page.length : null,
      datasets: page.map((dataset) => ({
        id: dataset.id,
        name: dataset.name,
        rowCount: dataset.rowCount,
        columns: dataset.columns.map((column) => ({ name: column.name, type: column.type })),
      })),
    };
  }
  const { query } = input as z.infer<typeof inputSchemas.web_search>;
  const outcome = await ports.search.search(query, context.signal);
  if (!outcome.ok) throw new AppError('PROVIDER_UNAVAILABLE', outcome.reason);
  return { results: outcome.sources };
}

/** The safe part of an error: our AppErrors as they are, anything else as a plain failure. */
function toolError(error: unknown) {
  if (error instanceof AppError)
    return {
      code: error.code,
      message: error.message,
      ...(error.code === 'VALIDATION_ERROR' && error.details ? { details: error.details } : {}),
    };
  return { code: 'INTERNAL', message: 'The tool failed' };
}

/**
 * JSON-safe (bigints as strings) and at most MAX_TOOL_OUTPUT_CHARS: rows past the limit are
 * dropped and `truncated` set, anything else too long becomes a truncated string.
 */
export function capOutput(output: unknown): unknown {
  const plain = JSON.parse(
    JSON.stringify(output, (_key, value: unknown) =>
      typeof value === 'bigint' ? value.toString() : value,
    ) ?? 'null',
  ) as unknown;
  if (JSON.stringify(plain).length <= MAX_TOOL_OUTPUT_CHARS) return plain;
  if (plain && typeof plain === 'object' && Array.isArray((plain as { rows?: unknown }).rows)) {
    const rows = (plain as { rows: unknown[] }).rows;
    const kept: unknown[] = [];
    let size = JSON.stringify({ ...plain, rows: [] }).length + 32;
    for (const row of rows) {
      const rowSize = JSON.stringify(row).length + 1;
      if (size + rowSize > MAX_TOOL_OUTPUT_CHARS) break;
      kept.push(row);
      size += rowSize;
    }
    return { ...plain, rows: kept, truncated: true };
  }
  return { truncated: true, text: JSON.stringify(plain).slice(0, MAX_TOOL_OUTPUT_CHARS) };
}
