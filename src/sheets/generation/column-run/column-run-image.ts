import type { LlmCallResult } from '../../../llm/llm-service.ts';
import { AppError } from '../../../platform/app-error.ts';
import { imagePrompt } from '../../images/image-generation.ts';
import { imageInputs } from '../../images/image-vision.ts';
import type { CellValue } from '../../sheet-schema.ts';
import type { ScannedRow } from '../generation-scope.ts';
import { renderTemplate } from '../prompt-template.ts';
import { cellCall, countCall } from './column-run-ask.ts';
import type { ColumnRunState, PassPlan } from './column-run-state.ts';

/**
 * An image column's cell (images/image-generation.ts): the rendered prompt goes to the image
 * model — with the row's images when it reads image columns (image-to-image) — the image is
 * stored and the cell gets its reference. The answer has the shape of a text answer, so the
 * cell is committed, counted and costed the same way.
 */
export async function askImageModel(
  state: ColumnRunState,
  row: ScannedRow,
  plan: PassPlan,
  signal: AbortSignal,
) {
  const current = plan.snapshot;
  const generator = state.deps.images;
  if (!generator || current.output.type !== 'image')
    throw new AppError('PROVIDER_ERROR', 'Image generation is not available on this server');
  const generated = await generator.generate({
    ...cellCall(state, row, plan),
    prompt: imagePrompt(current.instructions, renderTemplate(current.template, row.values)),
    size: current.output.size,
    signal,
    name: `${current.columnName}-${row.rowId}`,
    inputs: imageInputs(current.template, row.values),
    cache: plan.cache,
  });
  const result: LlmCallResult = {
    callId: generated.callId,
    text: '',
    output: undefined,
    toolCalls: [],
    finishReason: 'stop',
    provider: generated.provider,
    providerKind: generated.providerKind,
    model: generated.model,
    usage: generated.usage,
    costNano: generated.costNano,
    attempts: generated.attempts,
    cacheHit: generated.cacheHit,
    savedNano: generated.savedNano,
    latencyMs: generated.latencyMs,
    timeToFirstTokenMs: undefined,
    requestId: generated.requestId,
    warnings: generated.warnings,
  };
  countCall(state, result);
  return {
    parsed: {
      ok: true as const,
      value: generated.reference as unknown as CellValue,
    },
    result,
    attempts: generated.attempts,
    note: null,
  };
}
