import { useQuery, useQueryClient } from '@tanstack/react-query';
import { type FormEvent, useEffect, useState } from 'react';
import {
  type AiProcess,
  generationApi,
  type OutputSpec,
  type ProcessFields,
  type Run,
  type RunMode,
} from '../api/generation-api.ts';
import type { Column } from '../api/sheet-api.ts';
import { FormError } from '../ui/form-error.tsx';
import { useAnnouncer } from '../ui/live-region.tsx';
import { TemplateEditor } from '../ui/template-editor.tsx';
import { type ModelChoice, ModelPicker } from './model-picker.tsx';
import { PromptPreview } from './prompt-preview.tsx';
import { RunEstimateView } from './run-estimate.tsx';

type OutputType = OutputSpec['type'];
const OUTPUT_TYPES: { type: OutputType; label: string }[] = [
  { type: 'text', label: 'Text' },
  { type: 'number', label: 'Number' },
  { type: 'boolean', label: 'True / false' },
  { type: 'category', label: 'One of a list' },
  { type: 'json', label: 'JSON (with a schema)' },
];
const PREVIEW_ROWS = 5;

interface Draft {
  name: string;
  prompt: string;
  instructions: string;
  model: ModelChoice;
  outputType: OutputType;
  categories: string;
  schema: string;
  search: boolean;
  searchQuery: string;
  temperature: string;
  maxOutputTokens: string;
}

const emptyDraft: Draft = {
  name: '',
  prompt: '',
  instructions: '',
  model: { provider: undefined, model: '' },
  outputType: 'text',
  categories: '',
  schema: '{\n  "type": "object",\n  "properties": {}\n}',
  search: false,
  searchQuery: '',
  temperature: '',
  maxOutputTokens: '',
};

function draftOf(process: AiProcess, name: string): Draft {
  return {
    name,
    prompt: process.prompt,
    instructions: process.instructions,
    model: { provider: process.provider ?? undefined, model: process.model },
    outputType: process.output.type,
    categories: process.output.type === 'category' ? process.output.categories.join('\n') : '',
    schema:
      process.output.type === 'json'
        ? JSON.stringify(process.output.schema, null, 2)
        : emptyDraft.schema,
    search: process.search?.enabled ?? false,
    searchQuery: process.search?.query ?? '',
    temperature:
      process.parameters.temperature === undefined ? '' : String(process.parameters.temperature),
    maxOutputTokens:
      process.parameters.maxOutputTokens === undefined
        ? ''
        : String(process.parameters.maxOutputTokens),
  };
}

/** The draft's output settings, or undefined while they are not valid yet. */
function outputOf(draft: Draft): OutputSpec | undefined {
  try {
    return fieldsOf(draft).output;
  } catch {
    return undefined;
  }
}

/** The draft as the API's process fields; throws a readable error for a bad schema or list. */
function fieldsOf(draft: Draft): ProcessFields {
  let output: OutputSpec;
  if (draft.outputType === 'category') {
    const categories = draft.categories
      .split('\n')
      .map((line) => line.trim())
      .filter(Boolean);
    if (categories.length < 2) throw new Error('List at least two categories, one per line.');
    output = { type: 'category', categories };
  } else if (draft.outputType === 'json') {
    let schema: unknown;
    try {
      schema = JSON.parse(draft.schema);
    } catch (error) {
      throw new Error(`The JSON Schema is not valid JSON: ${(error as Error).message}`);
    }
    if (typeof schema !== 'object' || schema === null || Array.isArray(schema))
      throw new Error('The JSON Schema must be an object.');
    output = { type: 'json', schema: schema as Record<string, unknown> };
  } else output = { type: draft.outputType };
  const parameters: ProcessFields['parameters'] = {};
  if (draft.temperature.trim()) parameters.temperature = Number(draft.temperature);
  if (draft.maxOutputTokens.trim()) parameters.maxOutputTokens = Number(draft.maxOutputTokens);
  return {
    prompt: draft.prompt,
    instructions: draft.instructions,
    ...(draft.model.provider ? { provider: draft.model.provider } : {}),
    model: draft.model.model,
    parameters,
    output,
    search: {
      enabled: draft.search,
      ...(draft.search && draft.searchQuery.trim() ? { query: draft.searchQuery } : {}),
    },
  };
}

interface AiColumnPanelProps {
  projectId: string;
  datasetId: string;
  columns: readonly Column[];
  /** An AI column to edit; absent to create one. */
  columnId: string | undefined;
  onClose(): void;
  onColumnCreated(columnId: string): void;
  /** A run this panel started (the runs strip shows it at once). */
  onRunStarted?(run: Run): void;
}

/**
 * Create or edit an AI column: prompt with `{{` column autocomplete, instructions, model by
 * provider, output type (and JSON Schema), web search, parameters; then try it on the first
 * rows, see the cost and time estimate, and start a run (confirming above the threshold).
 */
export function AiColumnPanel({
  projectId,
  datasetId,
  columns,
  columnId,
  onClose,
  onColumnCreated,
  onRunStarted,
}: AiColumnPanelProps) {
  const queryClient = useQueryClient();
  const { announce } = useAnnouncer();
  const column = columns.find((candidate) => candidate.id === columnId);
  const existing = useQuery({
    queryKey: ['ai-column', projectId, datasetId, columnId],
    queryFn: () => generationApi.get(projectId, datasetId, columnId!),
    enabled: columnId !== undefined,
  });
  const [draft, setDraft] = useState<Draft>(emptyDraft);
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const [mode, setMode] = useState<RunMode>('outdated');
  const [confirmed, setConfirmed] = useState(false);
  const [saved, setSaved] = useState<string>();
  // The run's estimate follows the chosen cells and the saved process (refetched after a save
  // or a run); nothing to click before seeing what a run costs.
  const estimate = useQuery({
    queryKey: ['ai-estimate', projectId, datasetId, columnId, mode, existing.data?.process.version],
    queryFn: () => generationApi.preview(projectId, datasetId, columnId!, { mode }),
    enabled: columnId !== undefined && existing.data !== undefined,
    staleTime: 5_000,
  });
  const refreshEstimate = () =>
    queryClient.invalidateQueries({ queryKey: ['ai-estimate', projectId, datasetId, columnId] });

  useEffect(() => {
    if (existing.data && column) setDraft(draftOf(existing.data.process, column.name));
    else if (!columnId) setDraft(emptyDraft);
  }, [existing.data, column, columnId]);

  const set = <K extends keyof Draft>(key: K, value: Draft[K]) => {
    setDraft((previous) => ({ ...previous, [key]: value }));
    setSaved(undefined);
  };

  const act = async (task: () => Promise<void>) => {
    setBusy(true);
    setError(undefined);
    try {
      await task();
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  };

  const names = columns
    .filter((candidate) => candidate.id !== columnId)
    .map((candidate) => candidate.name);

  const save = (event: FormEvent) => {
    event.preventDefault();
    void act(async () => {
      const fields = fieldsOf(draft);
      if (!columnId) {
        const created = await generationApi.create(projectId, datasetId, {
          ...fields,
          name: draft.name,
          run: false,
        });
        await queryClient.invalidateQueries({ queryKey: ['dataset', projectId, datasetId] });
        // Like AI Sheets: the first rows are generated at once, so the prompt's effect shows
        // before anyone estimates a full run.
        const run = await generationApi.startRun(projectId, datasetId, created.column.id, {
          mode: 'range',
          range: { from: 1, to: PREVIEW_ROWS },
          confirm: true,
        });
        onRunStarted?.(run);
        announce(`AI column ${draft.name} created; generating the first ${PREVIEW_ROWS} rows`);
        onColumnCreated(created.column.id);
        return;
      }
      const result = await generationApi.update(projectId, datasetId, columnId, {
        ...fields,
        search: fields.search ?? null,
      });
      await queryClient.invalidateQueries({
        queryKey: ['ai-column', projectId, datasetId, columnId],
      });
      void refreshEstimate();
      setSaved(
        result.staleCells
          ? `Saved; ${result.staleCells.toLocaleString()} generated cells are now stale.`
          : 'Saved.',
      );
    });
  };

  const tryFirstRows = () =>
    act(async () => {
      const run = await generationApi.startRun(projectId, datasetId, columnId!, {
        mode: 'range',
        range: { from: 1, to: PREVIEW_ROWS },
        fresh: true,
        confirm: true,
      });
      onRunStarted?.(run);
      announce(`Generating the first ${PREVIEW_ROWS} rows`);
    });

  const startRun = () =>
    act(async () => {
      const run = await generationApi.startRun(projectId, datasetId, columnId!, {
        mode,
        confirm: confirmed,
      });
      onRunStarted?.(run);
      setConfirmed(false);
      void refreshEstimate();
      announce(
        run.status === 'awaiting-confirmation'
          ? 'The run waits for your confirmation'
          : `Run started: ${run.progress.total} cells`,
      );
    });

  // Why a button is disabled, said next to it (a greyed button alone explains nothing).
  const saveBlocker =
    !columnId && !draft.name.trim()
      ? 'Name the column first.'
      : !draft.prompt.trim()
        ? 'Write a prompt first.'
        : !draft.model.model
          ? 'Choose a model first.'
          : undefined;
  const value = estimate.data;
  const runBlocker = !value
    ? estimate.isFetching
      ? 'Estimating…'
      : undefined
    : value.cells === 0
      ? mode === 'outdated'
        ? 'Nothing to generate: every cell is up to date.'
        : 'No cells match this choice.'
      : value.confirmationRequired && !confirmed
        ? 'Tick “I accept the estimated cost” to start.'
        : undefined;

  return (
    <section
      className="side-panel ai-panel"
      aria-label={columnId ? `AI column ${column?.name ?? ''}` : 'New AI column'}
    >
      <header className="panel-header">
        <h2>{columnId ? `AI column: ${column?.name ?? ''}` : 'New AI column'}</h2>
        <button
          type="button"
          className="icon-button"
          aria-label="Close AI column panel"
          onClick={onClose}
        >
          ×
        </button>
      </header>
      <FormError error={existing.error} />
      {columnId && (
        <section className="stack run-launcher" aria-label="Run">
          <div className="row">
            <label>
              <span className="visually-hidden">Which cells</span>
              <select
                value={mode}
                onChange={(event) => {
                  setMode(event.target.value as RunMode);
                  setConfirmed(false);
                }}
              >
                <option value="outdated">Cells not up to date</option>
                <option value="empty">Empty cells</option>
                <option value="errors">Cells with errors</option>
                <option value="stale">Stale cells</option>
                <option value="all">All cells</option>
              </select>
            </label>
            <button
              type="button"
              className="primary"
              disabled={busy || runBlocker !== undefined || !value}
              aria-describedby={runBlocker ? `${columnId}-run-why` : undefined}
              onClick={startRun}
            >
              {value ? `Run ${value.cells.toLocaleString()} cells` : 'Run'}
            </button>
          </div>
          {runBlocker && (
            <p id={`${columnId}-run-why`} className="hint" data-testid="run-blocker">
              {runBlocker}
            </p>
          )}
          <FormError error={estimate.error} />
          {value && value.cells > 0 && <RunEstimateView estimate={value} />}
          {value?.confirmationRequired && (
            <label className="checkbox">
              <input
                type="checkbox"
                checked={confirmed}
                onChange={(event) => setConfirmed(event.target.checked)}
              />
              I accept the estimated cost
            </label>
          )}
        </section>
      )}
      <form className="stack" onSubmit={save}>
        {!columnId && (
          <label>
            Column name
            <input
              value={draft.name}
              onChange={(event) => set('name', event.target.value)}
              required
              maxLength={200}
            />
          </label>
        )}
        <TemplateEditor
          label="Prompt"
          value={draft.prompt}
          onChange={(value) => set('prompt', value)}
          names={names}
          rows={6}
          maxLength={20_000}
          placeholder="e.g. Summarize {{Review}} in one sentence."
        />
        <label>
          Instructions (optional, for every cell)
          <textarea
            value={draft.instructions}
            rows={3}
            maxLength={20_000}
            onChange={(event) => set('instructions', event.target.value)}
          />
        </label>
        <PromptPreview
          projectId={projectId}
          datasetId={datasetId}
          columnId={columnId}
          columnName={columnId ? (column?.name ?? '') : draft.name}
          prompt={draft.prompt}
          instructions={draft.instructions}
          output={outputOf(draft)}
        />
        <ModelPicker
          projectId={projectId}
          value={draft.model}
          onChange={(model) => set('model', model)}
        />
        <label>
          Output
          <select
            value={draft.outputType}
            onChange={(event) => set('outputType', event.target.value as OutputType)}
          >
            {OUTPUT_TYPES.map((option) => (
              <option key={option.type} value={option.type}>
                {option.label}
              </option>
            ))}
          </select>
        </label>
        {draft.outputType === 'category' && (
          <label>
            Categories (one per line)
            <textarea
              value={draft.categories}
              rows={4}
              onChange={(event) => set('categories', event.target.value)}
            />
          </label>
        )}
        {draft.outputType === 'json' && (
          <label>
            JSON Schema of each answer
            <textarea
              className="mono"
              value={draft.schema}
              rows={8}
              spellCheck={false}
              onChange={(event) => set('schema', event.target.value)}
            />
          </label>
        )}
        <label className="checkbox">
          <input
            type="checkbox"
            checked={draft.search}
            onChange={(event) => set('search', event.target.checked)}
          />
          Search the web for each row and give the model the sources
        </label>
        {draft.search && (
          <TemplateEditor
            label="Search query (optional; default: the prompt)"
            value={draft.searchQuery}
            onChange={(value) => set('searchQuery', value)}
            names={names}
            rows={2}
            maxLength={2_000}
          />
        )}
        <details>
          <summary>Parameters</summary>
          <div className="row">
            <label>
              Temperature
              <input
                type="number"
                min={0}
                max={2}
                step={0.1}
                value={draft.temperature}
                onChange={(event) => set('temperature', event.target.value)}
              />
            </label>
            <label>
              Max output tokens
              <input
                type="number"
                min={1}
                max={100_000}
                value={draft.maxOutputTokens}
                onChange={(event) => set('maxOutputTokens', event.target.value)}
              />
            </label>
          </div>
        </details>
        <FormError error={error} />
        {saved && <p role="status">{saved}</p>}
        <div className="row">
          <button
            type="submit"
            className="primary"
            disabled={busy || saveBlocker !== undefined}
            aria-describedby={saveBlocker ? 'ai-save-why' : undefined}
          >
            {columnId ? 'Save changes' : `Create column and generate ${PREVIEW_ROWS} rows`}
          </button>
          {columnId && (
            <button type="button" disabled={busy} onClick={tryFirstRows}>
              Try on the first {PREVIEW_ROWS} rows
            </button>
          )}
        </div>
        {saveBlocker && (
          <p id="ai-save-why" className="hint" data-testid="save-blocker">
            {saveBlocker}
          </p>
        )}
      </form>
    </section>
  );
}
