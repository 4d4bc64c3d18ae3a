import type { Actor } from '../../access/actor.ts';
import { uuidv7 } from '../../platform/ids.ts';
import {
  type AiColumnUseCasesDeps,
  prepareProcess,
  requireUsableProvider,
  storedOutput,
} from './ai-column-shared.ts';
import { columnTypeFor } from './generation-output.ts';
import { presentRun } from './generation-presenter.ts';
import { presentProcess } from './generation-process.ts';
import {
  type CreateAiColumnInput,
  createAiColumnSchema,
  runRequestSchema,
} from './generation-schema.ts';
import type { ProcessRow } from './generation-store.ts';

const creatorOf = (actor: Actor) => (actor.via === 'system' ? null : actor.userId);

/**
 * Use case: creates an AI column and its process in one transaction, then (unless `run:
 * false`) starts filling it and returns at once; the run waits for confirmation when its
 * estimated cost is above the threshold and `confirm` was not given.
 */
export function createAiColumnUseCase(deps: AiColumnUseCasesDeps) {
  const { store, sheets, audit, loaders, runs } = deps;
  return async function createAiColumn(
    actor: Actor,
    projectId: string,
    datasetId: string,
    input: CreateAiColumnInput,
  ) {
    const { parsed, columns } = await loaders.parseAndLoadDataset(
      [actor, projectId, datasetId],
      'editor',
      () => createAiColumnSchema.parse(input),
    );
    const providerKind = await requireUsableProvider(deps.llm, projectId, parsed.provider);
    const prepared = await prepareProcess(
      store,
      { ...parsed, provider: parsed.provider, search: parsed.search },
      columns,
      datasetId,
      {
        id: undefined,
        name: parsed.name,
      },
      { config: deps.config, providerKind },
    );
    let processRow: ProcessRow | undefined;
    const column = await sheets.addColumn(
      actor,
      projectId,
      datasetId,
      {
        name: parsed.name,
        type: columnTypeFor(parsed.output),
        ...(parsed.position === undefined ? {} : { position: parsed.position }),
      },
      {
        ai: async (trx, columnRow) => {
          processRow = await store.insertProcess(
            {
              id: uuidv7(),
              project_id: projectId,
              dataset_id: datasetId,
              column_id: columnRow.id,
              prompt: prepared.template,
              instructions: parsed.instructions,
              provider: parsed.provider ?? null,
              model: parsed.model,
              parameters: JSON.stringify(parsed.parameters),
              ...storedOutput(parsed.output, prepared.search),
              input_column_ids: prepared.inputs,
              prompt_hash: prepared.promptHash,
              created_by: creatorOf(actor),
            },
            trx,
          );
          await audit.record(trx, {
            actor,
            action: 'ai-column.create',
            entityType: 'dataset_column',
            entityId: columnRow.id,
            projectId,
            summary: {
              datasetId,
              name: parsed.name,
              model: parsed.model,
              output: parsed.output.type,
            },
          });
        },
      },
    );
    deps.onProcessesChanged?.(datasetId);
    const after = (await sheets.requireDataset(actor, projectId, datasetId, 'editor')).columns;
    const run = parsed.run
      ? await runs.createRun(
          actor,
          processRow!,
          after,
          // A new column: nothing to regenerate, so the cache may answer.
          runRequestSchema.parse({ mode: 'all', fresh: false, confirm: parsed.confirm }),
        )
      : undefined;
    return {
      column,
      process: presentProcess(processRow!, after),
      run: run ? presentRun(run) : null,
    };
  };
}
