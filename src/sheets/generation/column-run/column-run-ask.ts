import type { LlmCallResult } from '../../../llm/llm-service.ts';
import { AppError } from '../../../platform/app-error.ts';
import { buildMessages, cellPrompt, diversitySeed } from '../generation-messages.ts';
import { parseAnswer } from '../generation-output.ts';
import { inputTokensOf } from '../generation-run-common.ts';
import type { ScannedRow } from '../generation-scope.ts';
import { renderTemplate } from '../prompt-template.ts';
import type { SearchSource } from '../search/search-provider.ts';
import type { ColumnRunState, PassPlan } from './column-run-state.ts';

type Prompt = Parameters<typeof buildMessages>[0];

/** The cell's prompt: its rendered template, search sources, few-shot examples, variety. */
export async function buildPrompt(
  state: ColumnRunState,
  row: ScannedRow,
  plan: PassPlan,
  signal: AbortSignal,
) {
  const current = plan.snapshot;
  const { config, search } = state.deps;
  const rendered = renderTemplate(current.template, row.values);
  let sources: SearchSource[] | undefined;
  let searchNote: string | undefined;
  if (current.search?.enabled) {
    const query = current.search.query
      ? renderTemplate(current.search.query, row.values)
      : rendered;
    const outcome = await search.search(query, signal);
    if (outcome.ok) sources = outcome.sources;
    else {
      state.delta.searchFailures++;
      searchNote = `Generated without sources: ${outcome.reason}`;
    }
  }
  const examples = plan.pool.select(rendered, {
    k: config.fewShotK,
    tokenBudget: config.fewShotTokens,
    excludeRowId: row.rowId,
  }).examples;
  const prompt = cellPrompt(current, row.values, {
    rendered,
    examples,
    sources,
    seed: current.diversity ? diversitySeed(current.processId, row.rowId) : undefined,
  });
  return { prompt, sources, searchNote };
}

/**
 * Asks the model; a near-duplicate of another row is asked once more to differ from it. The
 * cell's note: a near-duplicate left as one, else `searchNote` (search failed), else a cut answer.
 */
export async function askModel(
  state: ColumnRunState,
  row: ScannedRow,
  plan: PassPlan,
  prompt: Prompt,
  signal: AbortSignal,
  searchNote: string | null,
) {
  const current = plan.snapshot;
  const duplicates = plan.duplicates;
  let { text, result } = await callModel(state, row, plan, prompt, signal, plan.cache);
  let parsed = parseAnswer(current.output, { text, output: result.output });
  let attempts = result.attempts;
  let note = searchNote;
  if (parsed.ok && duplicates && typeof parsed.value === 'string') {
    let match = duplicates.find(parsed.value, row.rowId);
    if (match) {
      const retry = await callModel(
        state,
        row,
        plan,
        { ...prompt, diversity: { seed: prompt.diversity!.seed, avoid: [match.text] } },
        signal,
        'bypass',
      );
      ({ text, result } = retry);
      attempts += retry.result.attempts;
      parsed = parseAnswer(current.output, { text, output: result.output });
      match =
        parsed.ok && typeof parsed.value === 'string'
          ? duplicates.find(parsed.value, row.rowId)
          : undefined;
      if (match) {
        state.delta.duplicates++;
        note = `Near-duplicate of row ${match.key}`;
      }
    }
    if (parsed.ok && typeof parsed.value === 'string') duplicates.add(row.rowId, parsed.value);
  }
  if (!note && result.finishReason === 'length' && parsed.ok)
    note = 'The answer was cut at the output token limit';
  return { parsed, result, attempts, note };
}

/** One call through the LLM module; its tokens and cost are counted on the run. */
async function callModel(
  state: ColumnRunState,
  row: ScannedRow,
  plan: PassPlan,
  prompt: Prompt,
  signal: AbortSignal,
  cacheMode: 'use' | 'bypass',
): Promise<{ text: string; result: LlmCallResult }> {
  const { llm } = state.deps;
  const current = plan.snapshot;
  let text = '';
  let result: LlmCallResult | undefined;
  const request = {
    ...cellCall(state, row, plan),
    feature: 'sheet-cell',
    messages: buildMessages(prompt),
    parameters: current.parameters,
    outputSchema: plan.outputSchema,
    signal,
    cache: cacheMode,
  };
  try {
    if (plan.outputSchema === undefined) {
      // Free text cannot be invalid: one upstream response, no per-chunk work (a streamed
      // call costs several times the CPU of a plain one per answer).
      result = await llm.generate(request);
    } else {
      // Structured output is streamed so the model's raw text survives a parse failure and
      // is kept on the cell.
      for await (const event of llm.stream(request)) {
        if (event.type === 'text-delta') text += event.text;
        else if (event.type === 'attempt-restart') text = '';
        else if (event.type === 'finish') result = event.result;
      }
    }
  } catch (error) {
    if (error instanceof AppError) (error as AppError & { rawText?: string }).rawText = text;
    throw error;
  }
  if (!result) throw new AppError('PROVIDER_UNAVAILABLE', 'The call ended without an answer');
  countCall(state, result);
  return { text: result.text || text, result };
}

/** Who a cell's call is for and which model it asks: project, user, the cell's ids, provider. */
export function cellCall(state: ColumnRunState, row: ScannedRow, plan: PassPlan) {
  const { run } = state;
  const current = plan.snapshot;
  return {
    projectId: run.project_id,
    userId: run.created_by ?? undefined,
    entityIds: {
      datasetId: run.dataset_id,
      columnId: state.columnId,
      rowId: row.rowId,
      runId: run.id,
    },
    ...(current.provider ? { provider: current.provider } : {}),
    model: current.model,
  };
}

/** A call's tokens, cost and cache hit, on the unsaved counters and the run's totals. */
export function countCall(state: ColumnRunState, result: LlmCallResult): void {
  const { delta, totals } = state;
  const inputTokens = inputTokensOf(result) ?? 0;
  const outputTokens = result.usage.outputTokens ?? 0;
  const cost = result.costNano ?? 0;
  delta.inputTokens += inputTokens;
  delta.outputTokens += outputTokens;
  delta.costNano += cost;
  totals.inputTokens += inputTokens;
  totals.outputTokens += outputTokens;
  totals.costNano += cost;
  if (result.cacheHit) {
    delta.cacheHits++;
    totals.cacheHits++;
  }
}
