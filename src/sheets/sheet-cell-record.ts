import type { CellView } from '../shared/api-types.ts';
import type { CellRead, RowRead } from './sheet-data-store.ts';
import type { CellValue, ColumnKind } from './sheet-schema.ts';

/**
 * A cell as the sheets use cases hand it to their callers (routes, the AI column engine, the
 * staleness tracker): its value and whole state, with the status a never-written cell has
 * resolved from its column's kind and its sources parsed. It carries internals the engine
 * needs (input and prompt hashes); sheet-presenter.ts picks what leaves the server.
 */
export interface CellRecord extends Omit<CellView, 'value'> {
  value: CellValue;
  /** Hash of the inputs the value was generated from (staleness); never sent to clients. */
  inputHash: string | null;
  /** Hash of the prompt the value was generated with (outdated cells); never sent to clients. */
  promptHash: string | null;
}

/** A row of a window: its id, its 1-based position in the requested order, its cells. */
export interface RowRecord {
  rowId: string;
  ordinal: number;
  cells: Record<string, CellRecord>;
}

/** A cell never written has no status of its own: static/formula cells are done, AI cells pending. */
export function cellRecord(cell: CellRead, kind: ColumnKind): CellRecord {
  const { state } = cell;
  let sources: unknown = null;
  if (state.sources) {
    try {
      sources = JSON.parse(state.sources);
    } catch {
      sources = null;
    }
  }
  return {
    value: cell.value,
    status: state.status ?? (kind === 'ai' ? 'pending' : 'done'),
    version: state.version,
    validated: state.validated,
    error: state.error,
    raw: state.raw,
    model: state.model,
    inputHash: state.inputHash,
    promptHash: state.promptHash,
    inputTokens: state.inputTokens,
    outputTokens: state.outputTokens,
    costNanoUsd: state.costNanoUsd,
    latencyMs: state.latencyMs,
    attempts: state.attempts,
    sources,
    updatedAt: state.updatedAt,
  };
}

export function rowRecord(row: RowRead, kinds: ReadonlyMap<string, ColumnKind>): RowRecord {
  const cells: Record<string, CellRecord> = {};
  for (const [columnId, cell] of Object.entries(row.cells))
    cells[columnId] = cellRecord(cell, kinds.get(columnId) ?? 'static');
  return { rowId: row.rowId, ordinal: row.ordinal, cells };
}
