import { systemActor } from '../../auth/system-actor.ts';
import type { CellValue } from '../sheet-schema.ts';
import type { SheetService } from '../sheet-service.ts';
import type { RunMode } from './generation-schema.ts';
import type { ProcessRow } from './generation-store.ts';
import { inputHashOf } from './prompt-template.ts';

/** A cell as the sheets service presents it (the fields the engine reads). */
export interface ScannedCell {
  value: CellValue;
  status: string;
  version: number;
  validated: boolean;
  error: string | null;
  inputHash: string | null;
  promptHash: string | null;
  outputTokens: number | null;
  latencyMs: number | null;
  updatedAt: string | null;
}

export interface ScannedRow {
  rowId: string;
  cell: ScannedCell;
  /** Input values by column id. */
  values: Record<string, CellValue>;
}

/** What a run covers, as stored with it (row ids as decimal strings). */
export interface RunScope {
  mode: RunMode;
  rowIds?: string[] | undefined;
  fromRowId?: string | undefined;
  toRowId?: string | undefined;
  /** Rows added after the run was created are not part of it. */
  maxRowId?: string | undefined;
  includeValidated: boolean;
  includeDownstream: boolean;
  fresh: boolean;
}

export interface EligibilityContext {
  scope: RunScope;
  promptHash: string;
  inputs: readonly string[];
  /** Rows this run already finished (with the current prompt they are not redone). */
  completed: ReadonlySet<string>;
  /** `scope.rowIds` as a set (built once by the caller). */
  rowIdSet?: ReadonlySet<string> | undefined;
}

const isEmpty = (value: CellValue) => value === null || value === '';

/**
 * Whether a run generates this cell now. Never a cell another generator holds (`generating`);
 * never a validated cell unless the run asks for them (an explicit list of cells does); never a
 * cell this run already finished with the current prompt (so a resumed run redoes nothing).
 */
export function isEligible(row: ScannedRow, context: EligibilityContext): boolean {
  const { scope, promptHash } = context;
  const { cell } = row;
  if (cell.status === 'generating') return false;
  if (context.completed.has(row.rowId) && cell.promptHash === promptHash) return false;
  if (scope.rowIds && !(context.rowIdSet ?? new Set(scope.rowIds)).has(row.rowId)) return false;
  const includeValidated = scope.includeValidated || scope.mode === 'cells';
  if (cell.validated && !includeValidated) return false;
  const id = BigInt(row.rowId);
  if (scope.maxRowId !== undefined && id > BigInt(scope.maxRowId)) return false;
  switch (scope.mode) {
    case 'all':
    case 'cells':
      return true;
    case 'range':
      return (
        (scope.fromRowId === undefined || id >= BigInt(scope.fromRowId)) &&
        (scope.toRowId === undefined || id <= BigInt(scope.toRowId))
      );
    case 'empty':
      return isEmpty(cell.value);
    case 'errors':
      return cell.status === 'error';
    case 'stale':
      return (
        cell.status === 'stale' ||
        (cell.status === 'done' && cell.promptHash !== null && isOutdated(row, context))
      );
    case 'outdated':
      return cell.status !== 'done' || isOutdated(row, context);
  }
}

/** A done cell made by another version of the prompt, or from other input values. */
export function isOutdated(
  row: ScannedRow,
  context: Pick<EligibilityContext, 'promptHash' | 'inputs'>,
): boolean {
  return (
    row.cell.promptHash !== context.promptHash ||
    row.cell.inputHash !== inputHashOf(context.inputs, row.values)
  );
}

export const SCAN_PAGE = 500;

/**
 * The rows a scope covers, in row-id order, a page at a time, read through the sheets service
 * (the target cell and the input values). Listed cells are read by id.
 */
export async function* scanRows(options: {
  sheets: SheetService;
  projectId: string;
  datasetId: string;
  columnId: string;
  inputs: readonly string[];
  scope: RunScope;
  pageSize?: number;
}): AsyncGenerator<ScannedRow[]> {
  const { sheets, projectId, datasetId, columnId, inputs, scope } = options;
  const pageSize = options.pageSize ?? SCAN_PAGE;
  const actor = systemActor();
  const columnIds = [columnId, ...inputs.filter((id) => id !== columnId)];
  const toRow = (rowId: string, cells: Record<string, unknown>): ScannedRow => {
    const target = cells[columnId] as ScannedCell;
    const values: Record<string, CellValue> = {};
    for (const id of inputs)
      values[id] = (cells[id] as { value: CellValue } | undefined)?.value ?? null;
    return { rowId, cell: target, values };
  };
  if (scope.rowIds) {
    const ids = [...new Set(scope.rowIds)].sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1));
    for (let index = 0; index < ids.length; index += pageSize) {
      const chunk = ids.slice(index, index + pageSize);
      const rows = await sheets.readCells(
        actor,
        projectId,
        datasetId,
        columnIds,
        chunk.map((id) => BigInt(id)),
      );
      const page = chunk.flatMap((id) => {
        const cells = rows.get(id);
        return cells ? [toRow(id, cells)] : [];
      });
      if (page.length > 0) yield page;
    }
    return;
  }
  const last = scope.toRowId ?? scope.maxRowId;
  let after = scope.fromRowId !== undefined ? (BigInt(scope.fromRowId) - 1n).toString() : undefined;
  while (true) {
    const window = await sheets.readWindow(actor, projectId, datasetId, {
      ...(after === undefined || after === '0' ? {} : { afterRowId: after }),
      limit: pageSize,
      columns: columnIds,
    });
    if (window.rows.length === 0) return;
    const page: ScannedRow[] = [];
    let done = false;
    for (const row of window.rows) {
      if (last !== undefined && BigInt(row.rowId) > BigInt(last)) {
        done = true;
        break;
      }
      page.push(toRow(row.rowId, row.cells));
    }
    if (page.length > 0) yield page;
    if (done || window.rows.length < pageSize) return;
    after = window.rows.at(-1)!.rowId;
  }
}

/**
 * Turns `stale` the AI column's done cells nobody validated that `outdated` picks (all, when
 * not given). Compare-and-set per cell: a cell changed meanwhile keeps the newer change.
 * Returns how many cells were marked.
 */
export async function markDoneCellsStale(
  sheets: SheetService,
  process: ProcessRow,
  outdated: (cell: ScannedCell) => boolean = () => true,
): Promise<number> {
  const actor = systemActor();
  let marked = 0;
  for await (const page of scanRows({
    sheets,
    projectId: process.project_id,
    datasetId: process.dataset_id,
    columnId: process.column_id,
    inputs: [],
    scope: { mode: 'all', includeValidated: true, includeDownstream: false, fresh: false },
    pageSize: 1_000,
  })) {
    const writes = page
      .filter((row) => row.cell.status === 'done' && !row.cell.validated && outdated(row.cell))
      .map((row) => ({
        rowId: BigInt(row.rowId),
        expectedVersion: row.cell.version,
        state: { status: 'stale' as const },
      }));
    if (writes.length === 0) continue;
    const result = await sheets.writeCells(
      actor,
      process.project_id,
      process.dataset_id,
      process.column_id,
      writes,
    );
    marked += result.applied.length;
  }
  return marked;
}
