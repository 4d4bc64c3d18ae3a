import { useQuery, useQueryClient } from '@tanstack/react-query';
import { Link, useNavigate, useParams } from '@tanstack/react-router';
import { useEffect, useId, useState } from 'react';
import { documentApi } from '../api/document-api.ts';
import { llmApi } from '../api/llm-api.ts';
import { sheetApi } from '../api/sheet-api.ts';
import { rememberProject } from '../projects/home-page.tsx';
import { FormError } from '../ui/form-error.tsx';
import {
  type TemplateCreation,
  type TemplateField,
  type TemplatePreview,
  type TemplateRequest,
  type WorkflowTemplate,
  workflowApi,
} from './workflow-api.ts';
import { kindLabel } from './workflow-editor.tsx';
import './workflows.css';

type Values = Record<string, string | boolean>;

/** The form's values as the request (empty fields left out, numbers as numbers). */
export function templateRequest(template: WorkflowTemplate, values: Values): TemplateRequest {
  const request: TemplateRequest = { template: template.template };
  for (const field of template.fields) {
    const value = values[field.name];
    if (field.type === 'boolean') {
      if (value === true) request[field.name] = true;
    } else if (typeof value === 'string' && value.trim() !== '') {
      request[field.name] = field.type === 'number' ? Number(value) : value;
    }
  }
  return request;
}

function creationText(creation: TemplateCreation): string {
  if (creation.kind === 'documents')
    return `A documents collection “${creation.name}” with ${creation.documents} sample documents`;
  if (creation.kind === 'dataset')
    return `A dataset “${creation.name}” (columns: ${creation.columns.join(', ')})`;
  return `An AI column “${creation.name}” (${creation.model})`;
}

function TemplateInput({
  field,
  value,
  onChange,
  options,
}: {
  field: TemplateField;
  value: string | boolean | undefined;
  onChange: (value: string | boolean) => void;
  options: {
    datasets: { id: string; name: string }[];
    documents: { id: string; name: string }[];
    providers: { id: string; name: string }[];
  };
}) {
  const id = useId();
  const label = `${field.label}${field.required ? '' : ' (optional)'}`;
  const hint = field.help ? (
    <p className="field-hint" id={`${id}-hint`}>
      {field.help}
    </p>
  ) : null;
  const described = field.help ? `${id}-hint` : undefined;
  if (field.type === 'boolean')
    return (
      <div className="field field-wide">
        <label>
          <input
            type="checkbox"
            checked={value === true}
            aria-describedby={described}
            onChange={(event) => onChange(event.target.checked)}
          />{' '}
          {field.label}
        </label>
        {hint}
      </div>
    );
  const text = typeof value === 'string' ? value : '';
  const choices =
    field.type === 'dataset'
      ? options.datasets
      : field.type === 'documents'
        ? options.documents
        : field.type === 'provider'
          ? options.providers
          : undefined;
  return (
    <div className={field.type === 'prompt' ? 'field field-wide' : 'field'}>
      <label htmlFor={id}>{label}</label>
      {choices ? (
        <select
          id={id}
          value={text}
          aria-describedby={described}
          onChange={(event) => onChange(event.target.value)}
        >
          <option value="">{field.type === 'provider' ? 'The default' : '— choose —'}</option>
          {choices.map((choice) => (
            <option key={choice.id} value={choice.id}>
              {choice.name}
            </option>
          ))}
        </select>
      ) : field.type === 'prompt' ? (
        <textarea
          id={id}
          rows={3}
          value={text}
          aria-describedby={described}
          onChange={(event) => onChange(event.target.value)}
        />
      ) : (
        <input
          id={id}
          type={field.type === 'number' ? 'number' : 'text'}
          value={text}
          aria-describedby={described}
          onChange={(event) => onChange(event.target.value)}
        />
      )}
      {hint}
    </div>
  );
}

/**
 * /projects/:projectId/workflows/templates — pick a template, fill its fields, see what it will
 * make (a preview that makes nothing), then make the workflow, or make it and run it.
 */
export function WorkflowTemplatesPage() {
  const { projectId } = useParams({ strict: false }) as { projectId: string };
  useEffect(() => rememberProject(projectId), [projectId]);
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const templates = useQuery({
    queryKey: ['workflow-templates', projectId],
    queryFn: () => workflowApi.templates(projectId),
  });
  const datasets = useQuery({
    queryKey: ['datasets', projectId],
    queryFn: () => sheetApi.list(projectId),
  });
  const collections = useQuery({
    queryKey: ['document-collections', projectId],
    queryFn: () => documentApi.collections(projectId),
  });
  const providers = useQuery({
    queryKey: ['providers', projectId],
    queryFn: () => llmApi.providers(projectId),
  });
  const [chosen, setChosen] = useState<string>();
  const [values, setValues] = useState<Values>({});
  const [preview, setPreview] = useState<TemplatePreview>();
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const items = templates.data?.items ?? [];
  const template = items.find((item) => item.template === chosen);

  const choose = (name: string) => {
    setChosen(name);
    setValues({});
    setPreview(undefined);
    setError(undefined);
  };
  const act = async (work: () => Promise<void>) => {
    setBusy(true);
    setError(undefined);
    try {
      await work();
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  };
  const request = () => templateRequest(template!, values);
  const create = (run: boolean) =>
    act(async () => {
      const created = await workflowApi.fromTemplate(projectId, request());
      await queryClient.invalidateQueries({ queryKey: ['workflows', projectId] });
      if (!run) {
        await navigate({
          to: '/projects/$projectId/workflows/$workflowId',
          params: { projectId, workflowId: created.id },
        });
        return;
      }
      const started = await workflowApi.start(projectId, created.id, {});
      await navigate({
        to: '/projects/$projectId/workflow-runs/$runId',
        params: { projectId, runId: started.id },
      });
    });

  return (
    <section className="page">
      <p>
        <Link to="/projects/$projectId/workflows" params={{ projectId }}>
          ‹ Workflows
        </Link>
      </p>
      <h1>New workflow from a template</h1>
      <FormError error={templates.error} />
      <fieldset className="template-choices">
        <legend>Template</legend>
        {items.map((item) => (
          <label key={item.template} className="template-choice">
            <input
              type="radio"
              name="template"
              value={item.template}
              checked={chosen === item.template}
              onChange={() => choose(item.template)}
            />{' '}
            <strong>{item.title}</strong>
            <span className="muted"> — {item.description}</span>
          </label>
        ))}
      </fieldset>
      {template && (
        <form
          aria-label={`${template.title} fields`}
          onSubmit={(event) => {
            event.preventDefault();
            void act(async () =>
              setPreview(await workflowApi.previewTemplate(projectId, request())),
            );
          }}
        >
          <div className="field-grid">
            {template.fields.map((field) => (
              <TemplateInput
                key={field.name}
                field={field}
                value={values[field.name]}
                onChange={(value) => {
                  setValues((current) => ({ ...current, [field.name]: value }));
                  setPreview(undefined);
                }}
                options={{
                  datasets: datasets.data?.items ?? [],
                  documents: collections.data?.items ?? [],
                  providers: providers.data?.items ?? [],
                }}
              />
            ))}
          </div>
          <FormError error={error} />
          <div className="row">
            <button type="submit" disabled={busy}>
              Preview
            </button>
            <button type="button" disabled={busy || !preview} onClick={() => void create(false)}>
              Create workflow
            </button>
            <button
              type="button"
              className="primary"
              disabled={busy || !preview}
              onClick={() => void create(true)}
            >
              Create and run
            </button>
          </div>
        </form>
      )}
      {preview && (
        <section aria-label="What the template will make" className="template-preview">
          <h2>“{preview.name}”</h2>
          <h3>Made first</h3>
          {preview.creates.length === 0 ? (
            <p className="muted">Nothing: it works on what the project has.</p>
          ) : (
            <ul>
              {preview.creates.map((creation) => (
                <li key={`${creation.kind}:${creation.name}`}>{creationText(creation)}</li>
              ))}
            </ul>
          )}
          <h3>Steps</h3>
          <ol>
            {preview.steps.map((step) => (
              <li key={step.id}>
                <code>{step.id}</code> — {kindLabel(step.kind)}
              </li>
            ))}
          </ol>
        </section>
      )}
    </section>
  );
}
