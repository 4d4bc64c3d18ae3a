import type { AuditRecorder } from '../../access/audit-recorder.ts';
import type { ProjectAccess } from '../../access/project-access.ts';
import type { LlmModule } from '../../llm/llm-module.ts';
import type { GenerationConfig } from '../../platform/config.ts';
import type { EventBus } from '../../platform/events.ts';
import type { Logger } from '../../platform/logger.ts';
import type { SheetService } from '../sheet-service.ts';
import { createAiColumnUseCases } from './generation-ai-columns.ts';
import { createEstimates } from './generation-estimates.ts';
import { createLoaders } from './generation-loaders.ts';
import { createRunUseCases, type RunControl } from './generation-runs.ts';
import type { GenerationStore } from './generation-store.ts';

export type { PromptPreview } from './generation-ai-columns.ts';
export { ESTIMATE_SAMPLE, type RunEstimate } from './generation-estimates.ts';
export { type RunControl, stopRun } from './generation-runs.ts';

export interface GenerationServiceDeps {
  store: GenerationStore;
  sheets: SheetService;
  llm: Pick<LlmModule, 'admin'>;
  access: ProjectAccess;
  audit: AuditRecorder;
  events: EventBus;
  config: GenerationConfig;
  logger: Logger;
  /** The durable-run engine and the runner, as the run use cases need them. */
  control: RunControl;
  /** Told when a dataset's processes change (the staleness tracker caches them). */
  onProcessesChanged?: (datasetId: string) => void;
}

/**
 * The AI-column service the routes and the CLI call: one object over the use cases, each in a
 * file named for it — AI columns (generation-ai-columns.ts), runs (generation-runs.ts) and
 * estimates (generation-estimates.ts).
 */
export function createGenerationService(deps: GenerationServiceDeps) {
  const loaders = createLoaders(deps);
  const estimates = createEstimates({ ...deps, loaders });
  const runs = createRunUseCases({ ...deps, estimates, loaders });
  const columns = createAiColumnUseCases({ ...deps, loaders, runs });
  const { createRun: _createRun, ...runUseCases } = runs;
  return { ...columns, ...runUseCases, previewRun: estimates.previewRun };
}

export type GenerationService = ReturnType<typeof createGenerationService>;
