import type { AuditRecorder } from '../../access/audit-recorder.ts';
import type { ProjectAccess } from '../../access/project-access.ts';
import { systemActor } from '../../auth/system-actor.ts';
import type { LlmModule } from '../../llm/llm-module.ts';
import type { ProviderKind } from '../../llm/llm-provider.ts';
import { isAppError, validationError } from '../../platform/app-error.ts';
import type { GenerationConfig } from '../../platform/config.ts';
import { IMAGE_EDIT_MODEL_PATTERNS, requireImageEditing } from '../images/image-generation.ts';
import { requireVisionModel, VISION_MODEL_PATTERNS } from '../images/image-vision.ts';
import type { SheetService } from '../sheet-service.ts';
import type { ColumnRow } from '../sheet-store.ts';
import type { GenerationLoaders } from './generation-loaders.ts';
import { compileJsonSchema, type OutputSpec } from './generation-output.ts';
import { dependencyGraph, promptHashOf, refuseCycle } from './generation-process.ts';
import type { RunUseCases } from './generation-runs.ts';
import type { SearchSettings } from './generation-schema.ts';
import type { GenerationStore } from './generation-store.ts';
import { storeTemplate } from './prompt-template.ts';
import type { RunControl } from './run-shared.ts';

/** What the AI-column use cases (ai-column-*.ts, prompt-preview.ts) are given. */
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
  /**
   * Which models accept image parts (a prompt that reads an image column needs one), and which
   * transform images (an image column whose prompt reads one).
   */
  config?: Pick<GenerationConfig, 'visionModels' | 'imageEditModels'>;
}

/** Stands for a column being created, in reference checks. */
const SELF = '00000000-0000-0000-0000-00000000self';

/** The fields of a process that shape what the model is asked. */
export interface ProcessFields {
  prompt: string;
  instructions: string;
  provider: string | undefined | null;
  model: string;
  parameters: Record<string, unknown>;
  output: OutputSpec;
  search: SearchSettings | undefined | null;
}

/**
 * A prompt's column names resolved to stored `{{#id}}` references. The column itself (`id`,
 * or `name` while it is being created) may not be referred to.
 */
export function resolvePrompt(
  prompt: string,
  columns: readonly ColumnRow[],
  self: { id: string | undefined; name: string | undefined },
) {
  // The new column itself (when creating) is listed so referring to it reads as a cycle.
  const named = [
    ...(self.id === undefined && self.name !== undefined ? [{ id: SELF, name: self.name }] : []),
    ...columns.map((column) => ({ id: column.id, name: column.name })),
  ];
  const template = storeTemplate(prompt, named, 'prompt');
  if (template.inputs.includes(self.id ?? SELF)) refuseSelfReference();
  return { template, named, selfId: self.id ?? SELF };
}

function refuseSelfReference(): never {
  throw validationError('The prompt may not refer to its own column', [
    { path: 'prompt', message: 'dependency cycle: refers to its own column' },
  ]);
}

/**
 * A process before it is stored: template, search query and output checked; references
 * resolved; cycles refused (`selfId`: the column being edited; undefined while creating).
 */
export async function prepareProcess(
  store: GenerationStore,
  fields: ProcessFields,
  columns: readonly ColumnRow[],
  datasetId: string,
  self: { id: string | undefined; name?: string },
  options: {
    config?: Pick<GenerationConfig, 'visionModels' | 'imageEditModels'> | undefined;
    /** The named connection's kind; undefined when the process names none. */
    providerKind?: ProviderKind | undefined;
  } = {},
) {
  const { template, named, selfId } = resolvePrompt(fields.prompt, columns, {
    id: self.id,
    name: self.name,
  });
  const searchQuery = fields.search?.query
    ? storeTemplate(fields.search.query, named, 'search.query')
    : undefined;
  if (searchQuery?.inputs.includes(selfId)) refuseSelfReference();
  if (fields.output.type === 'json') compileJsonSchema(fields.output.schema);
  const inputs = [...new Set([...template.inputs, ...(searchQuery?.inputs ?? [])])];
  if (fields.output.type === 'image')
    requireImageEditing(columns, template.inputs, {
      model: fields.model,
      patterns: options.config?.imageEditModels ?? IMAGE_EDIT_MODEL_PATTERNS,
      providerKind: options.providerKind,
    });
  else
    requireVisionModel(
      columns,
      template.inputs,
      fields.model,
      options.config?.visionModels ?? VISION_MODEL_PATTERNS,
    );
  if (self.id) {
    const processes = await store.listProcesses(datasetId);
    const graph = dependencyGraph(columns, processes);
    refuseCycle(graph, self.id, inputs, new Map(columns.map((column) => [column.id, column.name])));
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
}

/**
 * A provider named on a process must be one this project can use (its own, instance-wide or
 * env): another project's provider id is refused at creation, not at the first run.
 */
export async function requireUsableProvider(
  llm: Pick<LlmModule, 'admin'>,
  projectId: string,
  provider: string | null | undefined,
): Promise<ProviderKind | undefined> {
  if (!provider) return undefined;
  try {
    return (await llm.admin.getProvider(systemActor(), projectId, provider)).kind;
  } catch (error) {
    if (isAppError(error) && error.code === 'NOT_FOUND')
      throw validationError('No such provider in this project', [
        { path: 'provider', message: 'not a provider of this project' },
      ]);
    throw error;
  }
}

/** The process columns that store a process's output and search (JSON text or null). */
export function storedOutput(output: OutputSpec, search: unknown) {
  return {
    output_type: output.type,
    categories: output.type === 'category' ? JSON.stringify(output.categories) : null,
    json_schema: output.type === 'json' ? JSON.stringify(output.schema) : null,
    image_size: output.type === 'image' ? (output.size ?? null) : null,
    search: search ? JSON.stringify(search) : null,
  };
}
