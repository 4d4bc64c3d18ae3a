import { useQuery } from '@tanstack/react-query';
import { type ReactNode, useEffect, useId, useMemo, useRef, useState } from 'react';
import { ModelPicker } from '../ai/model-picker.tsx';
import { isApiError } from '../api/api-client.ts';
import { documentApi } from '../api/document-api.ts';
import { type Dataset, sheetApi } from '../api/sheet-api.ts';
import { agentsApi } from '../chat/chat-agents-api.ts';
import { FormError } from '../ui/form-error.tsx';
import {
  COMPARISON_OPS,
  DATASET_EXPORT_FORMATS,
  REPORT_EXPORT_FORMATS,
  STEP_KINDS,
  type StepKind,
  type Workflow,
  type WorkflowDefinition,
} from './workflow-api.ts';
import {
  definitionOf,
  EXTRACTION_TYPES,
  emptyStep,
  isKnownKind,
  issuesByField,
  newKey,
  RAW_FIELD,
  type StepDraft,
  shownFields,
  stepFieldIssue,
  stepIssue,
  type WorkflowDraft,
} from './workflow-draft.ts';

export const KIND_LABELS: Record<StepKind, string> = {
  'import-documents': 'Wait for documents',
  'ai-column': 'Fill an AI column',
  extract: 'Extract fields from documents',
  sql: 'SQL query',
  llm: 'Ask a model',
  branch: 'Branch on a condition',
  approval: 'Wait for approval',
  report: 'Write a report',
  export: 'Export a file',
};

const FORMAT_LABELS: Record<string, string> = {
  csv: 'CSV',
  tsv: 'TSV',
  jsonl: 'JSON Lines',
  parquet: 'Parquet',
  xlsx: 'Excel (xlsx)',
  md: 'Markdown',
  html: 'HTML',
};

export const kindLabel = (kind: string) => (isKnownKind(kind) ? KIND_LABELS[kind] : kind);

const isDatasetFormat = (format: string) =>
  (DATASET_EXPORT_FORMATS as readonly string[]).includes(format);

/** One labelled input with the API's message for it right under it. */
function Field({
  label,
  issue,
  hint,
  wide,
  children,
}: {
  label: string;
  issue: string | undefined;
  hint?: string;
  wide?: boolean;
  children: (props: {
    id: string;
    'aria-invalid': boolean;
    'aria-describedby': string | undefined;
  }) => ReactNode;
}) {
  const id = useId();
  const described = [issue ? `${id}-error` : '', hint ? `${id}-hint` : '']
    .filter(Boolean)
    .join(' ');
  return (
    <div className={wide ? 'field field-wide' : 'field'}>
      <label htmlFor={id}>{label}</label>
      {children({
        id,
        'aria-invalid': issue !== undefined,
        'aria-describedby': described || undefined,
      })}
      {hint && (
        <p className="field-hint" id={`${id}-hint`}>
          {hint}
        </p>
      )}
      {issue && (
        <p className="field-error" id={`${id}-error`}>
          {issue}
        </p>
      )}
    </div>
  );
}

function DatasetSelect({
  value,
  options,
  onChange,
  ...props
}: {
  value: string;
  options: { id: string; name: string }[];
  onChange: (value: string) => void;
  id: string;
  'aria-invalid': boolean;
  'aria-describedby': string | undefined;
}) {
  const known = options.some((option) => option.id === value);
  return (
    <select value={value} onChange={(event) => onChange(event.target.value)} {...props}>
      <option value="">Choose…</option>
      {value !== '' && !known && <option value={value}>Unknown ({value})</option>}
      {options.map((option) => (
        <option key={option.id} value={option.id}>
          {option.name}
        </option>
      ))}
    </select>
  );
}

/**
 * The workflow editor (issue #17 item 7): name, description, inputs, and the steps as a list
 * with a form per step kind. Saving sends the definition as typed; the API checks it and a 400
 * puts each message at the field it names (`steps.2.datasetId` under step 3's dataset).
 */
export function WorkflowEditor({
  projectId,
  initial,
  workflow,
  onSave,
}: {
  projectId: string;
  initial: WorkflowDraft;
  /** The saved workflow being edited (a new one when absent). */
  workflow?: Workflow;
  onSave: (name: string, definition: WorkflowDefinition) => Promise<unknown>;
}) {
  const [draft, setDraft] = useState(initial);
  const [error, setError] = useState<unknown>();
  const [saving, setSaving] = useState(false);
  const [addKind, setAddKind] = useState<StepKind>('sql');

  const datasets = useQuery({
    queryKey: ['datasets', projectId, false],
    queryFn: () => sheetApi.list(projectId),
  });
  const collections = useQuery({
    queryKey: ['document-collections', projectId],
    queryFn: () => documentApi.collections(projectId),
  });
  // The same list (and cache entry) as the agents page.
  const agents = useQuery({
    queryKey: ['chat', projectId, 'agents'],
    queryFn: () => agentsApi.list(projectId),
  });
  const issues = useMemo(
    () =>
      isApiError(error, 'VALIDATION_ERROR')
        ? issuesByField(error.fieldErrors)
        : new Map<string, string>(),
    [error],
  );

  // After a refused save, the first field the API named takes the focus (and scrolls into view).
  const form = useRef<HTMLFormElement>(null);
  useEffect(() => {
    if (issues.size > 0) form.current?.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus();
  }, [issues]);

  const setStep = (index: number, change: (step: StepDraft) => StepDraft) =>
    setDraft((current) => ({
      ...current,
      steps: current.steps.map((step, at) => (at === index ? change(step) : step)),
    }));
  const setField = (index: number, field: string, value: string) =>
    setStep(index, (step) => ({ ...step, fields: { ...step.fields, [field]: value } }));
  const move = (index: number, by: -1 | 1) =>
    setDraft((current) => {
      const steps = [...current.steps];
      const target = index + by;
      if (target < 0 || target >= steps.length) return current;
      [steps[index], steps[target]] = [steps[target]!, steps[index]!];
      return { ...current, steps };
    });

  const save = async () => {
    setSaving(true);
    setError(undefined);
    try {
      await onSave(draft.name.trim(), definitionOf(draft));
    } catch (failure) {
      setError(failure);
    } finally {
      setSaving(false);
    }
  };

  const datasetOptions = (datasets.data?.items ?? []).map((dataset) => ({
    id: dataset.id,
    name: dataset.name,
  }));
  const collectionOptions = (collections.data?.items ?? []).map((collection) => ({
    id: collection.id,
    name: `${collection.name} (${collection.documents.toLocaleString()} documents)`,
  }));
  const datasetById = (id: string): Dataset | undefined =>
    datasets.data?.items.find((dataset) => dataset.id === id);
  const stepIds = draft.steps.map((step) => step.fields.id ?? '');
  const reportStepIds = draft.steps
    .filter((step) => step.kind === 'report' && (step.fields.id ?? '') !== '')
    .map((step) => ({ id: step.fields.id!, name: step.fields.id! }));
  const agentOptions = (agents.data?.items ?? []).map((agent) => ({
    id: agent.id,
    name: `${agent.name} (${agent.model})`,
  }));
  const agentById = (id: string) => agents.data?.items.find((agent) => agent.id === id);
  const setFields = (index: number, fields: Record<string, string>) =>
    setStep(index, (step) => ({ ...step, fields: { ...step.fields, ...fields } }));

  const renderField = (index: number, step: StepDraft, field: string): ReactNode => {
    const value = step.fields[field] ?? '';
    const named = stepFieldIssue(issues, index, field);
    // An id left unchosen reads better as what to do than as the schema's "Invalid UUID".
    const issue =
      named && value === '' && (field === 'datasetId' || field === 'columnId')
        ? `Choose one (${named})`
        : named;
    const set = (next: string) => setField(index, field, next);
    const text = (label: string, hint?: string, placeholder?: string) => (
      <Field key={field} label={label} issue={issue} hint={hint}>
        {(props) => (
          <input
            {...props}
            value={value}
            placeholder={placeholder}
            onChange={(event) => set(event.target.value)}
          />
        )}
      </Field>
    );
    const area = (label: string, hint?: string) => (
      <Field key={field} label={label} issue={issue} hint={hint} wide>
        {(props) => (
          <textarea {...props} value={value} onChange={(event) => set(event.target.value)} />
        )}
      </Field>
    );
    switch (field) {
      case 'id':
        return text('Step id', 'Lower-case letters, digits and dashes; others name it so.');
      case 'name':
        return text('Label (optional)');
      case 'needs':
        return text('Runs after (step ids)', 'Comma-separated. Steps read by templates are added.');
      case 'retries':
        return text('Retries', 'Default 2, for retryable errors.', '2');
      case 'timeoutMs':
        return text('Timeout (ms)', 'One attempt; default 600000 (10 min).', '600000');
      case 'datasetId':
        if (step.kind === 'export')
          return (
            <Field
              key={field}
              label="Dataset"
              issue={issue}
              hint="A dataset of the project, or a report step below."
            >
              {(props) => (
                <DatasetSelect
                  {...props}
                  value={value}
                  options={datasetOptions}
                  onChange={(next) =>
                    setFields(index, {
                      datasetId: next,
                      ...(next !== '' ? { reportStep: '' } : {}),
                      ...(next !== '' && !isDatasetFormat(step.fields.format ?? '')
                        ? { format: 'csv' }
                        : {}),
                    })
                  }
                />
              )}
            </Field>
          );
        return (
          <Field
            key={field}
            label={
              step.kind === 'import-documents'
                ? 'Documents collection'
                : step.kind === 'extract'
                  ? 'Extraction sheet'
                  : 'Dataset'
            }
            hint={
              step.kind === 'extract'
                ? 'One row per document; missing columns are added.'
                : undefined
            }
            issue={issue}
          >
            {(props) => (
              <DatasetSelect
                {...props}
                value={value}
                onChange={set}
                options={step.kind === 'import-documents' ? collectionOptions : datasetOptions}
              />
            )}
          </Field>
        );
      case 'reportStep':
        return (
          <Field key={field} label="Or the report of step" issue={issue}>
            {(props) => (
              <DatasetSelect
                {...props}
                value={value}
                options={reportStepIds}
                onChange={(next) =>
                  setFields(index, {
                    reportStep: next,
                    ...(next !== '' ? { datasetId: '' } : {}),
                    ...(next !== '' && isDatasetFormat(step.fields.format ?? '')
                      ? { format: 'md' }
                      : {}),
                  })
                }
              />
            )}
          </Field>
        );
      case 'format': {
        const formats: readonly string[] =
          step.fields.reportStep && !step.fields.datasetId
            ? REPORT_EXPORT_FORMATS
            : step.fields.datasetId
              ? DATASET_EXPORT_FORMATS
              : [...DATASET_EXPORT_FORMATS, ...REPORT_EXPORT_FORMATS];
        return (
          <Field key={field} label="Format" issue={issue}>
            {(props) => (
              <select {...props} value={value} onChange={(event) => set(event.target.value)}>
                {!formats.includes(value) && <option value={value}>{value || 'Choose…'}</option>}
                {formats.map((format) => (
                  <option key={format} value={format}>
                    {FORMAT_LABELS[format] ?? format}
                  </option>
                ))}
              </select>
            )}
          </Field>
        );
      }
      case 'agentId':
        return (
          <Field
            key={field}
            label="Agent (optional)"
            issue={issue}
            hint="Its instructions open the system prompt; its model is used unless you choose one."
          >
            {(props) => (
              <DatasetSelect
                {...props}
                value={value}
                options={agentOptions}
                onChange={(next) =>
                  // Choosing an agent takes its model: the step's own is cleared.
                  setFields(
                    index,
                    next !== '' ? { agentId: next, provider: '', model: '' } : { agentId: '' },
                  )
                }
              />
            )}
          </Field>
        );
      case 'columnId': {
        const columns = (datasetById(step.fields.datasetId ?? '')?.columns ?? []).filter(
          (column) => column.kind === 'ai',
        );
        return (
          <Field key={field} label="AI column" issue={issue} hint="The dataset's AI columns.">
            {(props) => <DatasetSelect {...props} value={value} onChange={set} options={columns} />}
          </Field>
        );
      }
      case 'documentsDatasetId':
        return (
          <Field key={field} label="Documents collection" issue={issue}>
            {(props) => (
              <DatasetSelect {...props} value={value} onChange={set} options={collectionOptions} />
            )}
          </Field>
        );
      case 'schema':
        return area(
          'Fields',
          `One per line: name: type — description. Types: ${EXTRACTION_TYPES.join(', ')}. Each becomes a typed column; every value keeps its citation.`,
        );
      case 'instructions':
        return area('Instructions (optional)');
      case 'concurrency':
        return text('Documents at once', 'Default 4, at most 64.', '4');
      case 'contextChars':
        return text(
          'Characters per call',
          'A longer document is read in page chunks, then reduced. Default 24000.',
          '24000',
        );
      case 'mode':
        if (step.kind === 'extract')
          return (
            <Field key={field} label="Documents" issue={issue}>
              {(props) => (
                <select {...props} value={value} onChange={(event) => set(event.target.value)}>
                  <option value="missing">Those without a row yet</option>
                  <option value="all">All (extract again)</option>
                </select>
              )}
            </Field>
          );
        return (
          <Field key={field} label="Cells" issue={issue}>
            {(props) => (
              <select {...props} value={value} onChange={(event) => set(event.target.value)}>
                <option value="missing">Empty and failed cells</option>
                <option value="all">All cells (regenerate)</option>
              </select>
            )}
          </Field>
        );
      case 'sql':
        return area('SQL', 'Read-only, over the table `dataset`.');
      case 'provider':
        // Chosen with the model, below.
        return null;
      case 'model': {
        const providerIssue = stepFieldIssue(issues, index, 'provider');
        const agent = step.fields.agentId ? agentById(step.fields.agentId) : undefined;
        // With an agent and no model of its own, the step runs on the agent's model.
        if (step.fields.agentId && value === '')
          return (
            <div className="field field-wide" key={field}>
              <p>
                Model: the agent's{agent ? ` (${agent.model})` : ''}{' '}
                <button
                  type="button"
                  onClick={() =>
                    setFields(index, {
                      provider: agent?.provider ?? '',
                      model: agent?.model ?? '',
                    })
                  }
                >
                  Choose another model
                </button>
              </p>
              {issue && <p className="field-error">Model: {issue}</p>}
            </div>
          );
        return (
          <div className="field field-wide" key={field}>
            <ModelPicker
              projectId={projectId}
              value={{ provider: step.fields.provider || undefined, model: value }}
              onChange={(choice) =>
                setStep(index, (current) => ({
                  ...current,
                  fields: {
                    ...current.fields,
                    provider: choice.provider ?? '',
                    model: choice.model,
                  },
                }))
              }
            />
            {step.fields.agentId && (
              <button type="button" onClick={() => setFields(index, { provider: '', model: '' })}>
                Use the agent's model
              </button>
            )}
            {[providerIssue && `Provider: ${providerIssue}`, issue && `Model: ${issue}`]
              .filter(Boolean)
              .map((message) => (
                <p className="field-error" key={message as string}>
                  {message}
                </p>
              ))}
          </div>
        );
      }
      case 'system':
        return area('System prompt (optional)');
      case 'prompt':
        return area('Prompt', 'Reads {{inputs.name}} and {{steps.id.path}}.');
      case 'when.step':
        return (
          <Field key={field} label="If the output of step" issue={issue}>
            {(props) => (
              <select {...props} value={value} onChange={(event) => set(event.target.value)}>
                <option value="">Choose…</option>
                {stepIds
                  .filter((id, at) => id !== '' && at !== index)
                  .map((id) => (
                    <option key={id} value={id}>
                      {id}
                    </option>
                  ))}
              </select>
            )}
          </Field>
        );
      case 'when.path':
        return text('At path', 'Dotted, e.g. rows.0.total, rowCount, text.');
      case 'when.op':
        return (
          <Field key={field} label="Is" issue={issue}>
            {(props) => (
              <select {...props} value={value} onChange={(event) => set(event.target.value)}>
                {COMPARISON_OPS.map((op) => (
                  <option key={op} value={op}>
                    {op}
                  </option>
                ))}
              </select>
            )}
          </Field>
        );
      case 'when.value':
        return text('Value', 'Numbers, true/false and null are read as such.');
      case 'skipIfFalse':
        return text(
          'Otherwise skip (step ids)',
          'Comma-separated; what needs them is skipped too.',
        );
      case 'message':
        return area('Message to the approver');
      case 'title':
        return text('Title');
      case 'markdown':
        return area(
          'Report (Markdown)',
          'Reads {{inputs.name}} and {{steps.id}} (a list of rows becomes a table). Cite with [[doc:ID#p2]] or [[row:DATASET/ROW]].',
        );
      case RAW_FIELD:
        return area('Step (JSON)', 'This step kind has no form here yet; edit its JSON.');
      default:
        return text(field);
    }
  };

  return (
    <form
      ref={form}
      className="stack"
      aria-label="Workflow"
      onSubmit={(event) => {
        event.preventDefault();
        void save();
      }}
    >
      <div className="field-grid">
        <Field label="Name" issue={issues.get('name')}>
          {(props) => (
            <input
              {...props}
              value={draft.name}
              maxLength={200}
              required
              onChange={(event) => setDraft({ ...draft, name: event.target.value })}
            />
          )}
        </Field>
        <Field label="Description" issue={issues.get('description')} wide>
          {(props) => (
            <textarea
              {...props}
              value={draft.description}
              onChange={(event) => setDraft({ ...draft, description: event.target.value })}
            />
          )}
        </Field>
      </div>

      <fieldset className="card">
        <legend>Inputs</legend>
        {draft.inputs.length === 0 && (
          <p className="muted small">No inputs: runs start as they are.</p>
        )}
        {draft.inputs.map((input, index) => (
          <div className="row" key={input.key}>
            <Field label={`Input ${index + 1} name`} issue={issues.get(`inputs.${index}.name`)}>
              {(props) => (
                <input
                  {...props}
                  value={input.name}
                  onChange={(event) =>
                    setDraft({
                      ...draft,
                      inputs: draft.inputs.map((item, at) =>
                        at === index ? { ...item, name: event.target.value } : item,
                      ),
                    })
                  }
                />
              )}
            </Field>
            <Field
              label={`Input ${index + 1} default`}
              issue={issues.get(`inputs.${index}.default`)}
            >
              {(props) => (
                <input
                  {...props}
                  value={input.default}
                  placeholder="(required at run time)"
                  onChange={(event) =>
                    setDraft({
                      ...draft,
                      inputs: draft.inputs.map((item, at) =>
                        at === index ? { ...item, default: event.target.value } : item,
                      ),
                    })
                  }
                />
              )}
            </Field>
            <button
              type="button"
              onClick={() =>
                setDraft({ ...draft, inputs: draft.inputs.filter((_, at) => at !== index) })
              }
            >
              Remove input {index + 1}
            </button>
          </div>
        ))}
        <button
          type="button"
          onClick={() =>
            setDraft({
              ...draft,
              inputs: [...draft.inputs, { key: newKey(), name: '', default: '' }],
            })
          }
        >
          + Input
        </button>
      </fieldset>

      <section aria-label="Steps" className="stack">
        <h2>Steps</h2>
        {issues.get('steps') && <p className="field-error">{issues.get('steps')}</p>}
        <ol className="step-list">
          {draft.steps.map((step, index) => {
            const whole = stepIssue(issues, index, shownFields(step.kind));
            return (
              <li key={step.key}>
                <fieldset className="step-card">
                  <legend className="visually-hidden">{`Step ${index + 1}: ${kindLabel(step.kind)}`}</legend>
                  <header>
                    <h3>
                      {index + 1}. {kindLabel(step.kind)}
                      {step.fields.id ? <span className="muted"> · {step.fields.id}</span> : null}
                    </h3>
                    <span className="spacer" />
                    <button
                      type="button"
                      className="icon-button"
                      aria-label={`Move step ${index + 1} up`}
                      disabled={index === 0}
                      onClick={() => move(index, -1)}
                    >
                      ↑
                    </button>
                    <button
                      type="button"
                      className="icon-button"
                      aria-label={`Move step ${index + 1} down`}
                      disabled={index === draft.steps.length - 1}
                      onClick={() => move(index, 1)}
                    >
                      ↓
                    </button>
                    <button
                      type="button"
                      className="danger"
                      aria-label={`Remove step ${index + 1}`}
                      onClick={() =>
                        setDraft({ ...draft, steps: draft.steps.filter((_, at) => at !== index) })
                      }
                    >
                      Remove
                    </button>
                  </header>
                  {whole && (
                    <p className="field-error" role="alert">
                      {whole}
                    </p>
                  )}
                  <div className="field-grid">
                    {shownFields(step.kind).map((field) => renderField(index, step, field))}
                  </div>
                </fieldset>
              </li>
            );
          })}
        </ol>
        <div className="row">
          <label className="inline-label">
            New step
            <select
              value={addKind}
              onChange={(event) => setAddKind(event.target.value as StepKind)}
              aria-label="Kind of the new step"
            >
              {STEP_KINDS.map((kind) => (
                <option key={kind} value={kind}>
                  {KIND_LABELS[kind]}
                </option>
              ))}
            </select>
          </label>
          <button
            type="button"
            onClick={() =>
              setDraft({ ...draft, steps: [...draft.steps, emptyStep(addKind, stepIds)] })
            }
          >
            + Add step
          </button>
        </div>
      </section>

      <FormError error={error} />
      <div className="row">
        <button type="submit" className="primary" disabled={saving}>
          {workflow ? `Save version ${workflow.version + 1}` : 'Create workflow'}
        </button>
        {saving && <span className="muted">Saving…</span>}
      </div>
    </form>
  );
}
