import { validationError } from '../platform/app-error.ts';
import { checkFormula, compileFormula, formulaInputs, storeFormula } from './sheet-formula.ts';
import { columnRef, type SheetContext } from './sheet-service-context.ts';
import type { ColumnRow } from './sheet-store.ts';

/**
 * Formula columns inside the use cases: checking a formula before anything is written, and
 * recomputing the formulas that read changed columns (in dependency order, one sandbox
 * session) after a write.
 */
export type FormulaUpdates = ReturnType<typeof createFormulaUpdates>;

export const namesOf = (columns: readonly ColumnRow[]) =>
  new Map(columns.map((column) => [column.id, column.name]));

/** Formula columns that depend (directly or through other formulas) on `changed`, in evaluation order. */
export function dependentFormulas(
  columns: readonly ColumnRow[],
  changed: ReadonlySet<string> | 'all',
) {
  const formulas = columns.filter((column) => column.kind === 'formula' && column.formula !== null);
  const ordered: ColumnRow[] = [];
  const dirty = new Set(changed === 'all' ? columns.map((column) => column.id) : changed);
  const remaining = new Set(formulas);
  // Formulas form a DAG (cycles are refused at creation): peel off ready ones.
  let progress = true;
  while (progress && remaining.size > 0) {
    progress = false;
    for (const formula of remaining) {
      const inputs = formulaInputs(formula.formula!);
      const waiting = inputs.some((id) => [...remaining].some((other) => other.id === id));
      if (waiting) continue;
      remaining.delete(formula);
      progress = true;
      if (inputs.some((id) => dirty.has(id)) || changed === 'all') {
        ordered.push(formula);
        dirty.add(formula.id);
      }
    }
  }
  return ordered;
}

export function createFormulaUpdates(context: Pick<SheetContext, 'data' | 'duckdb'>) {
  const { data, duckdb } = context;

  /** Recomputes the formulas reading `changed` (on `rowIds`, or all rows); returns them. */
  const recompute = async (
    datasetId: string,
    columns: readonly ColumnRow[],
    changed: ReadonlySet<string> | 'all',
    rowIds?: readonly bigint[],
  ) => {
    const formulas = dependentFormulas(columns, changed);
    // In evaluation order, in one sandbox session: a formula reads those computed before it.
    await data.recomputeFormulas(
      datasetId,
      formulas.map((formula) => ({
        column: columnRef(formula),
        expression: compileFormula(formula.formula!),
        inputs: formulaInputs(formula.formula!),
      })),
      { rowIds, names: namesOf(columns) },
    );
    return formulas;
  };

  /** Stores a formula's text if it refers to known columns, forms no cycle and binds. */
  const validateFormula = async (columns: readonly ColumnRow[], text: string, selfId?: string) => {
    const candidates = columns.filter((column) => column.id !== selfId);
    const { stored, inputs } = storeFormula(text, candidates);
    // Cycles: an input may not (transitively) depend on this column.
    if (selfId) {
      const byId = new Map(columns.map((column) => [column.id, column]));
      const seen = new Set<string>();
      const stack = [...inputs];
      while (stack.length > 0) {
        const id = stack.pop()!;
        if (id === selfId)
          throw validationError('Formula would depend on itself', [
            { path: 'formula', message: 'cycle' },
          ]);
        if (seen.has(id)) continue;
        seen.add(id);
        const formula = byId.get(id)?.formula;
        if (formula) stack.push(...formulaInputs(formula));
      }
    }
    await duckdb.withConnection((connection) =>
      checkFormula(
        connection,
        compileFormula(stored),
        candidates.map((column) => column.id),
      ),
    );
    return stored;
  };

  return { recompute, validateFormula };
}
