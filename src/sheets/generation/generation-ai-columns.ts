import { createAiColumnUseCase } from './ai-column-create.ts';
import { cellProvenanceUseCase, getAiColumnUseCase } from './ai-column-read.ts';
import type { AiColumnUseCasesDeps } from './ai-column-shared.ts';
import { updateProcessUseCase } from './ai-column-update.ts';
import { previewPromptUseCase } from './prompt-preview.ts';
import { templateInputs } from './prompt-template.ts';

export type { AiColumnUseCasesDeps } from './ai-column-shared.ts';
export type { PromptPreview } from './prompt-preview.ts';

/**
 * AI-column use cases, each in a file named for it: create an AI column and start filling it
 * (ai-column-create.ts), read it with what it depends on and its active run, and show where a
 * cell's value came from (ai-column-read.ts), edit its process — a changed prompt marks its
 * cells stale (ai-column-update.ts) — and preview a draft prompt for the first rows
 * (prompt-preview.ts). Access check first, then stores, then events; runs are started
 * through the run use cases.
 */
export function createAiColumnUseCases(deps: AiColumnUseCasesDeps) {
  return {
    createAiColumn: createAiColumnUseCase(deps),
    getAiColumn: getAiColumnUseCase(deps),
    updateProcess: updateProcessUseCase(deps),
    previewPrompt: previewPromptUseCase(deps),
    cellProvenance: cellProvenanceUseCase(deps),
    templateInputs,
  };
}

export type AiColumnUseCases = ReturnType<typeof createAiColumnUseCases>;
