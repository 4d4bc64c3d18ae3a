import type { Actor } from '../../access/actor.ts';
import type { AuditRecorder } from '../../access/audit-recorder.ts';
import type { ProjectAccess } from '../../access/project-access.ts';
import { systemActor } from '../../auth/system-actor.ts';
import type { LlmModule } from '../../llm/llm-module.ts';
import { isAppError, notFound, validationError } from '../../platform/app-error.ts';
import type { GenerationConfig } from '../../platform/config.ts';
import { uuidv7 } from '../../platform/ids.ts';
import { requireVisionModel, VISION_MODEL_PATTERNS } from '../images/image-vision.ts';
import type { CellValue } from '../sheet-schema.ts';
import type { SheetService } from '../sheet-service.ts';
import type { ColumnRow } from '../sheet-store.ts';
import type { GenerationLoaders } from './generation-loaders.ts';
import { buildMessages, cellPrompt, diversitySeed } from './generation-messages.ts';
import { columnTypeFor, compileJsonSchema, type OutputSpec } from './generation-output.ts';
import { presentRun } from './generation-presenter.ts';
import {
  dependencyGraph,
  presentProcess,
  promptHashOf,
  refuseCycle,
  snapshotOf,
} from './generation-process.ts';
import type { RunControl, RunUseCases } from './generation-runs.ts';
import {
  type CreateAiColumnInput,
  createAiColumnSchema,
  type PromptPreviewInput,
  promptPreviewSchema,
  runRequestSchema,
  type SearchSettings,
  type UpdateProcessInput,
  updateProcessSchema,
} from './generation-schema.ts';
import { isOutdated, markDoneCellsStale } from './generation-scope.ts';
import type { GenerationStore, ProcessRow } from './generation-store.ts';
import { inputHashOf, storeTemplate, templateInputs } from './prompt-template.ts';

/**
 * AI-column use cases: create an AI column (and start filling it), read it with what it
 * depends on and its active run, edit its process (a changed prompt marks its cells stale),
 * preview a draft prompt for the first rows, and show where a cell's value came from. Access
 * check first, then stores, then events; runs are started through the run use cases.
 */
const creatorOf = (actor: Actor) => (actor.via === 'system' ? null : actor.userId);
/** Stands for a column being created, in reference checks. */
const SELF = '00000000-0000-0000-0000-00000000self';

/** A draft prompt rendered for the first rows (see previewPrompt). */
export interface PromptPreview {
  rows: {
    rowId: string;
    /** 1-based, in row order. */
    position: number;
    messages: { role: 'system' | 'user' | 'assistant'; content: string }[];
    /** Referenced columns that are empty in this row (they render as nothing). */
    missingColumns: string[];
  }[];
  /** What a run adds that the preview leaves out. */
  omitted: ('few-shot-examples' | 'search-results' | 'variety-note')[];
}

export interface AiColumnUseCasesDeps {
  store: GenerationStore;
  sheets: SheetService;
  llm: Pick<LlmModule, 'admin'>;
  access: ProjectAccess;
  audit: AuditRecorder;
  loaders: GenerationLoaders;
  runs: Pick<RunUseCases, 'createRun'>;
  control: Pick<RunControl, 'live' | 'processChanged'>;
  /** Told when a dataset's processes change (the staleness tracker caches them). */
  onProcessesChanged?: ((datasetId: string) => void) | undefined;
  config?: Pick<GenerationConfig, 'visionModels'>;
}

export function createAiColumnUseCases(deps: AiColumnUseCasesDeps) {
  const { store, sheets, access, audit, loaders, runs, control } = deps;

  /** Template, search query and output checked; references resolved; cycles refused. */
  const prepare = async (
    fields: {
      prompt: string;
      instructions: string;
      provider: string | undefined | null;
      model: string;
      parameters: Record<string, unknown>;
      output: OutputSpec;
      search: SearchSettings | undefined | null;
    },
    columns: readonly ColumnRow[],
    datasetId: string,
    selfId: string | undefined,
    selfName?: string,
  ) => {
    // The new column itself (when creating) is listed so referring to it reads as a cycle.
    const named = [
      ...(selfId === undefined && selfName !== undefined ? [{ id: SELF, name: selfName }] : []),
      ...columns.map((column) => ({ id: column.id, name: column.name })),
    ];
    const template = storeTemplate(fields.prompt, named, 'prompt');
    const searchQuery = fields.search?.query
      ? storeTemplate(fields.search.query, named, 'search.query')
      : undefined;
    const self = selfId ?? SELF;
    if (template.inputs.includes(self) || searchQuery?.inputs.includes(self))
      throw validationError('The prompt may not refer to its own column', [
        { path: 'prompt', message: 'dependency cycle: refers to its own column' },
      ]);
    if (fields.output.type === 'json') compileJsonSchema(fields.output.schema);
    const inputs = [...new Set([...template.inputs, ...(searchQuery?.inputs ?? [])])];
    requireVisionModel(
      columns,
      template.inputs,
      fields.model,
      deps.config?.visionModels ?? VISION_MODEL_PATTERNS,
    );
    if (selfId) {
      const processes = await store.listProcesses(datasetId);
      const graph = dependencyGraph(columns, processes);
      refuseCycle(
        graph,
        selfId,
        inputs,
        new Map(columns.map((column) => [column.id, column.name])),
      );
    }
    const search = fields.search
      ? { enabled: fields.search.enabled, ...(searchQuery ? { query: searchQuery.stored } : {}) }
      : null;
    const promptHash = promptHashOf({
      template: template.stored,
      instructions: fields.instructions,
      provider: fields.provider,
      model: fields.model,
      parameters: fields.parameters,
      output: fields.output,
      search,
    });
    return { template: template.stored, inputs, search, promptHash };
  };

  /**
   * A provider named on a process must be one this project can use (its own, instance-wide or
   * env): another project's provider id is refused at creation, not at the first run.
   */
  async function requireUsableProvider(projectId: string, provider: string | null | undefined) {
    if (!provider) return;
    try {
      await deps.llm.admin.getProvider(systemActor(), projectId, provider);
    } catch (error) {
      if (isAppError(error) && error.code === 'NOT_FOUND')
        throw validationError('No such provider in this project', [
          { path: 'provider', message: 'not a provider of this project' },
        ]);
      throw error;
    }
  }

  return {
    /**
     * Creates an AI column and its process in one transaction, then (unless `run: false`)
     * starts filling it and returns at once; the run waits for confirmation when its
     * estimated cost is above the threshold and `confirm` was not given.
     */
    async createAiColumn(
      actor: Actor,
      projectId: string,
      datasetId: string,
      input: CreateAiColumnInput,
    ) {
      await access.requireRole(actor, projectId, 'editor');
      const parsed = createAiColumnSchema.parse(input);
      const { columns } = await sheets.requireDataset(actor, projectId, datasetId, 'editor');
      await requireUsableProvider(projectId, parsed.provider);
      const prepared = await prepare(
        { ...parsed, provider: parsed.provider, search: parsed.search },
        columns,
        datasetId,
        undefined,
        parsed.name,
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
                output_type: parsed.output.type,
                categories:
                  parsed.output.type === 'category'
                    ? JSON.stringify(parsed.output.categories)
                    : null,
                json_schema:
                  parsed.output.type === 'json' ? JSON.stringify(parsed.output.schema) : null,
                search: prepared.search ? JSON.stringify(prepared.search) : null,
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
    },

    async getAiColumn(actor: Actor, projectId: string, datasetId: string, columnId: string) {
      const { columns, process } = await loaders.loadColumn(
        actor,
        projectId,
        datasetId,
        columnId,
        'viewer',
      );
      const processes = await store.listProcesses(datasetId);
      const graph = dependencyGraph(columns, processes);
      const readers = [...graph]
        .filter(([, inputs]) => inputs.includes(columnId))
        .map(([id]) => id);
      const active = await store.findActiveRun(columnId);
      return {
        process: presentProcess(process, columns),
        dependsOn: process.input_column_ids,
        usedBy: readers,
        activeRun: active ? presentRun(active, control.live(active.id)) : null,
      };
    },

    /**
     * Edits the process. A change to what the model is asked (prompt, instructions, model,
     * parameters, output, search) bumps the version and marks the column's generated cells
     * stale; the response cache misses on its own (the messages differ). Runs in progress go
     * on with the new version.
     */
    async updateProcess(
      actor: Actor,
      projectId: string,
      datasetId: string,
      columnId: string,
      input: UpdateProcessInput,
    ) {
      await access.requireRole(actor, projectId, 'editor');
      const parsed = updateProcessSchema.parse(input);
      const { columns, process } = await loaders.loadColumn(
        actor,
        projectId,
        datasetId,
        columnId,
        'editor',
      );
      await requireUsableProvider(projectId, parsed.provider);
      const current = presentProcess(process, columns);
      const output = parsed.output ?? current.output;
      if (parsed.output && columnTypeFor(parsed.output) !== columnTypeFor(current.output))
        throw validationError(
          'This output type needs another column type; create a new AI column',
          [{ path: 'output.type', message: 'changes the column type' }],
        );
      // Unchanged fields are taken as shown (names), so they resolve like new input.
      const search =
        parsed.search === undefined
          ? (current.search as { enabled: boolean; query?: string } | null)
          : parsed.search;
      const prepared = await prepare(
        {
          prompt: parsed.prompt ?? current.prompt,
          instructions: parsed.instructions ?? process.instructions,
          provider: parsed.provider === undefined ? process.provider : parsed.provider,
          model: parsed.model ?? process.model,
          parameters: (parsed.parameters ?? process.parameters) as Record<string, unknown>,
          output,
          search: search ?? null,
        },
        columns,
        datasetId,
        columnId,
      );
      const changed = prepared.promptHash !== process.prompt_hash;
      const updated = await store.transaction(async (trx) => {
        const row = await store.updateProcess(
          process.id,
          {
            prompt: prepared.template,
            instructions: parsed.instructions ?? process.instructions,
            provider: parsed.provider === undefined ? process.provider : (parsed.provider ?? null),
            model: parsed.model ?? process.model,
            parameters: JSON.stringify(parsed.parameters ?? process.parameters),
            output_type: output.type,
            categories: output.type === 'category' ? JSON.stringify(output.categories) : null,
            json_schema: output.type === 'json' ? JSON.stringify(output.schema) : null,
            search: prepared.search ? JSON.stringify(prepared.search) : null,
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
    },

    /**
     * The messages a draft prompt sends for the first rows (row-id order, as a range run counts
     * them), rendered by the same code as a run and without calling a model. Few-shot examples
     * and search results are added at run time and left out; so is the per-row variety note of
     * a prompt that reads no column, until the column exists (its seed is the process id).
     */
    async previewPrompt(
      actor: Actor,
      projectId: string,
      datasetId: string,
      input: PromptPreviewInput,
    ): Promise<PromptPreview> {
      const parsed = promptPreviewSchema.parse(input);
      const { columns } = await sheets.requireDataset(actor, projectId, datasetId, 'viewer');
      const self =
        parsed.columnId === undefined
          ? undefined
          : columns.find((column) => column.id === parsed.columnId);
      if (parsed.columnId !== undefined && !self) throw notFound('column', parsed.columnId);
      const named = [
        ...(self === undefined && parsed.columnName !== undefined
          ? [{ id: SELF, name: parsed.columnName }]
          : []),
        ...columns.map((column) => ({ id: column.id, name: column.name })),
      ];
      const template = storeTemplate(parsed.prompt, named, 'prompt');
      if (template.inputs.includes(self?.id ?? SELF))
        throw validationError('The prompt may not refer to its own column', [
          { path: 'prompt', message: 'dependency cycle: refers to its own column' },
        ]);
      if (parsed.output.type === 'json') compileJsonSchema(parsed.output.schema);
      const process = self?.kind === 'ai' ? await store.findProcessByColumn(self.id) : undefined;
      const window = await sheets.readWindow(systemActor(), projectId, datasetId, {
        limit: parsed.rows,
        columns: template.inputs,
      });
      const names = new Map(columns.map((column) => [column.id, column.name]));
      const varied = template.inputs.length === 0;
      const rows = window.rows.map((row, index) => {
        const values: Record<string, CellValue> = {};
        for (const id of template.inputs)
          values[id] = (row.cells[id] as { value: CellValue } | undefined)?.value ?? null;
        const messages = buildMessages(
          cellPrompt(
            {
              columnName: parsed.columnName ?? self?.name ?? 'column',
              output: parsed.output,
              instructions: parsed.instructions,
              template: template.stored,
            },
            values,
            { seed: varied && process ? diversitySeed(process.id, row.rowId) : undefined },
          ),
        );
        return {
          rowId: row.rowId,
          position: index + 1,
          // The cell prompt is system/user text only (prompt-template.ts).
          messages: messages.map((message) => ({
            role: message.role as 'system' | 'user' | 'assistant',
            content: message.content as string,
          })),
          missingColumns: template.inputs
            .filter((id) => values[id] === null || values[id] === '')
            .map((id) => names.get(id) ?? id),
        };
      });
      return {
        rows,
        omitted: [
          'few-shot-examples' as const,
          'search-results' as const,
          ...(varied && !process ? ['variety-note' as const] : []),
        ],
      };
    },

    /** Where a cell's value came from: model, prompt and input hashes, tokens, cost, latency, attempts, sources, error. */
    async cellProvenance(
      actor: Actor,
      projectId: string,
      datasetId: string,
      columnId: string,
      rowId: bigint,
    ) {
      const { columns, process } = await loaders.loadColumn(
        actor,
        projectId,
        datasetId,
        columnId,
        'viewer',
      );
      const snapshot = snapshotOf(process, columns);
      const rows = await sheets.readCells(
        actor,
        projectId,
        datasetId,
        [columnId, ...snapshot.inputs.filter((id) => columns.some((c) => c.id === id))],
        [rowId],
      );
      const cells = rows.get(rowId.toString());
      if (!cells) throw notFound('row', rowId.toString());
      const cell = cells[columnId]!;
      const values: Record<string, CellValue> = {};
      for (const id of snapshot.inputs) values[id] = cells[id]?.value ?? null;
      const generated = cell.promptHash !== null;
      return {
        rowId: rowId.toString(),
        columnId,
        value: cell.value,
        status: cell.status,
        version: cell.version,
        validated: cell.validated,
        error: cell.error,
        raw: cell.raw,
        model: cell.model,
        promptHash: cell.promptHash,
        inputHash: cell.inputHash,
        inputTokens: cell.inputTokens,
        outputTokens: cell.outputTokens,
        costNanoUsd: cell.costNanoUsd,
        latencyMs: cell.latencyMs,
        attempts: cell.attempts,
        sources: (cell.sources as unknown[] | null) ?? [],
        updatedAt: cell.updatedAt,
        current: {
          processVersion: process.version,
          promptHash: process.prompt_hash,
          inputHash: inputHashOf(snapshot.inputs, values),
          /** Whether the cell was made by the current prompt from the current inputs. */
          upToDate:
            generated &&
            !isOutdated(
              { rowId: rowId.toString(), cell: cell as never, values },
              { promptHash: process.prompt_hash, inputs: snapshot.inputs },
            ),
        },
      };
    },

    templateInputs,
  };
}

export type AiColumnUseCases = ReturnType<typeof createAiColumnUseCases>;
