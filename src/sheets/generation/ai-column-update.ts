import type { Actor } from '../../access/actor.ts';
import { validationError } from '../../platform/app-error.ts';
import {
  type AiColumnUseCasesDeps,
  prepareProcess,
  requireUsableProvider,
  storedOutput,
} from './ai-column-shared.ts';
import { columnTypeFor } from './generation-output.ts';
import { presentProcess, snapshotOf } from './generation-process.ts';
import { type UpdateProcessInput, updateProcessSchema } from './generation-schema.ts';
import { markDoneCellsStale } from './generation-scope.ts';

/**
 * Use case: edits the process. A change to what the model is asked (prompt, instructions,
 * model, parameters, output, search) bumps the version and marks the column's generated cells
 * stale; the response cache misses on its own (the messages differ). Runs in progress go on
 * with the new version.
 */
export function updateProcessUseCase(deps: AiColumnUseCasesDeps) {
  const { store, sheets, audit, loaders, control } = deps;
  return async function updateProcess(
    actor: Actor,
    projectId: string,
    datasetId: string,
    columnId: string,
    input: UpdateProcessInput,
  ) {
    const { parsed, columns, process } = await loaders.parseAndLoadColumn(
      [actor, projectId, datasetId, columnId],
      'editor',
      () => updateProcessSchema.parse(input),
    );
    const providerKind = await requireUsableProvider(deps.llm, projectId, parsed.provider);
    const current = presentProcess(process, columns);
    const output = parsed.output ?? current.output;
    if (parsed.output && columnTypeFor(parsed.output) !== columnTypeFor(current.output))
      throw validationError('This output type needs another column type; create a new AI column', [
        { path: 'output.type', message: 'changes the column type' },
      ]);
    // Unchanged fields are taken as shown (names), so they resolve like new input.
    const search =
      parsed.search === undefined
        ? (current.search as { enabled: boolean; query?: string } | null)
        : parsed.search;
    const fields = {
      prompt: parsed.prompt ?? current.prompt,
      instructions: parsed.instructions ?? process.instructions,
      provider: parsed.provider === undefined ? process.provider : (parsed.provider ?? null),
      model: parsed.model ?? process.model,
      parameters: (parsed.parameters ?? process.parameters) as Record<string, unknown>,
      output,
      search: search ?? null,
    };
    const prepared = await prepareProcess(
      store,
      fields,
      columns,
      datasetId,
      { id: columnId },
      { config: deps.config, providerKind },
    );
    const changed = prepared.promptHash !== process.prompt_hash;
    const updated = await store.transaction(async (trx) => {
      const row = await store.updateProcess(
        process.id,
        {
          prompt: prepared.template,
          instructions: fields.instructions,
          provider: fields.provider,
          model: fields.model,
          parameters: JSON.stringify(fields.parameters),
          ...storedOutput(output, prepared.search),
          input_column_ids: prepared.inputs,
          prompt_hash: prepared.promptHash,
          ...(changed ? { version: process.version + 1 } : {}),
        },
        trx,
      );
      await audit.record(trx, {
        actor,
        action: 'ai-column.update',
        entityType: 'dataset_column',
        entityId: columnId,
        projectId,
        summary: { datasetId, version: row.version, fields: Object.keys(parsed) },
      });
      return row;
    });
    deps.onProcessesChanged?.(datasetId);
    let staleCells = 0;
    if (changed) {
      // Done cells made by another version of the prompt (validated cells stay).
      const { promptHash } = snapshotOf(updated, columns);
      staleCells = await markDoneCellsStale(
        sheets,
        updated,
        (cell) => cell.promptHash !== promptHash,
      );
      const runs = (await store.listRuns(datasetId, { columnId })).filter(
        (run) => run.status === 'running',
      );
      control.processChanged(runs.map((run) => run.id));
    }
    return { process: presentProcess(updated, columns), staleCells };
  };
}
