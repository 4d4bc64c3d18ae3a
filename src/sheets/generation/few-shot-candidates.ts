import { type Example, MAX_POOL } from './few-shot.ts';
import { exampleAnswer } from './generation-output.ts';
import type { ProcessSnapshot } from './generation-process.ts';
import type { ScannedRow } from './generation-scope.ts';
import { renderTemplate } from './prompt-template.ts';

/**
 * The few-shot pool's candidates, gathered while a run or an estimate scans a column: its
 * validated cells with a value (at most four pools' worth), the most recently validated first.
 */
export class ExampleCandidates {
  readonly #snapshot: Pick<ProcessSnapshot, 'template' | 'output'>;
  readonly #candidates: { example: Example; at: string }[] = [];

  constructor(snapshot: Pick<ProcessSnapshot, 'template' | 'output'>) {
    this.#snapshot = snapshot;
  }

  /** A scanned row: kept when its cell is validated and has a value. */
  offer(row: ScannedRow): void {
    if (!row.cell.validated || row.cell.value === null || this.#candidates.length >= MAX_POOL * 4)
      return;
    this.#candidates.push({
      example: {
        rowId: row.rowId,
        input: renderTemplate(this.#snapshot.template, row.values),
        output: exampleAnswer(this.#snapshot.output, row.cell.value),
      },
      at: row.cell.updatedAt ?? '',
    });
  }

  /** The pool: the MAX_POOL most recently validated. */
  newest(): Example[] {
    const sorted = [...this.#candidates].sort((a, b) => (a.at < b.at ? 1 : a.at > b.at ? -1 : 0));
    return sorted.slice(0, MAX_POOL).map((candidate) => candidate.example);
  }
}
