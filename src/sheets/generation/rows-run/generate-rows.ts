import type { Actor } from '../../../access/actor.ts';
import { estimateInputTokens } from '../../../llm/llm-tokens.ts';
import type { RunContext } from '../../../platform/jobs/durable-run.ts';
import type { GenerationRunInput } from '../generation-job.ts';
import { createLoaders } from '../generation-loaders.ts';
import { presentRun } from '../generation-presenter.ts';
import { type GenerateRowsInput, generateRowsSchema } from '../generation-schema.ts';
import { insertRunAudited } from '../run-shared.ts';
import { RowsRun } from './rows-run.ts';
import { resumeRowsRun } from './rows-run-batches.ts';
import type { RowsGenerationDeps } from './rows-run-state.ts';

export type { RowsGenerationDeps } from './rows-run-state.ts';

import { columnsOf, type RowsScope, rowMessages, rowSchema } from './rows-shape.ts';

/**
 * N new rows from a description alone. Every row is its own call, all in parallel through the
 * sliding window (never one call at a time feeding every earlier answer back in, as the seed
 * system did): each gets a seed and its position, the model answers one JSON object for the
 * chosen columns; an invalid answer or a near-duplicate of a row already made is asked again
 * (a bounded number of times), and a row still not made is reported. Rows are appended in
 * small batches as they come (rows-run.ts).
 */
export function createRowsGeneration(deps: RowsGenerationDeps) {
  const loaders = createLoaders(deps);

  /** Starts generating rows (a durable run, like a column's); returns at once. */
  async function generateRows(
    actor: Actor,
    projectId: string,
    datasetId: string,
    input: GenerateRowsInput,
  ) {
    const { parsed, columns } = await loaders.parseAndLoadDataset(
      [actor, projectId, datasetId],
      'editor',
      () => generateRowsSchema.parse(input),
    );
    const chosen = columnsOf(columns, parsed.columnIds);
    const scope: RowsScope = {
      description: parsed.description,
      count: parsed.count,
      columnIds: chosen.map((column) => column.id),
      provider: parsed.provider,
      model: parsed.model,
      parameters: parsed.parameters,
    };
    const schema = rowSchema(chosen);
    const inputTokens = await estimateInputTokens(rowMessages(scope, chosen, 0, []), schema, {
      safety: false,
    });
    const estimate = {
      cells: parsed.count,
      inputTokensPerCell: inputTokens,
      inputTokens: inputTokens * parsed.count,
    };
    const run = await insertRunAudited(
      deps,
      actor,
      {
        project_id: projectId,
        dataset_id: datasetId,
        column_id: null,
        kind: 'rows',
        mode: 'rows',
        scope: JSON.stringify(scope),
        status: 'queued',
        estimate: JSON.stringify(estimate),
        total: parsed.count,
        created_by: actor.via === 'system' ? null : actor.userId,
      },
      { kind: 'rows', count: parsed.count },
    );
    await deps.queue(run);
    return presentRun(run);
  }

  /** The `sheets.generate-rows` kind's execute (generation-job.ts): one RowsRun. */
  async function executeRowsRun(context: RunContext<GenerationRunInput>): Promise<void> {
    const run = await resumeRowsRun(deps, context);
    await new RowsRun(deps, run, context).execute();
  }

  return { generateRows, executeRowsRun };
}

export type RowsGeneration = ReturnType<typeof createRowsGeneration>;
