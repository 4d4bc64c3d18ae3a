import { useQuery, useQueryClient } from '@tanstack/react-query';
import { Link, useNavigate, useParams } from '@tanstack/react-router';
import { type FormEvent, useEffect, useMemo, useState } from 'react';
import { isApiError } from '../api/api-client.ts';
import { rememberProject } from '../projects/home-page.tsx';
import { FormError } from '../ui/form-error.tsx';
import { formatDateTime } from '../ui/format.ts';
import { useNotices } from '../ui/notices.tsx';
import { type Workflow, workflowApi } from './workflow-api.ts';
import { draftOf, issuesByField } from './workflow-draft.ts';
import { WorkflowEditor } from './workflow-editor.tsx';
import { RUN_STATUS_LABELS } from './workflow-labels.ts';
import './workflows.css';

/** Start a run: one field per input of the saved version (defaults filled in). */
function StartRun({ projectId, workflow }: { projectId: string; workflow: Workflow }) {
  const navigate = useNavigate();
  const inputs = workflow.definition.inputs ?? [];
  const [values, setValues] = useState<Record<string, string>>({});
  const [error, setError] = useState<unknown>();
  const [starting, setStarting] = useState(false);
  const issues = useMemo(
    () =>
      isApiError(error, 'VALIDATION_ERROR')
        ? issuesByField(error.fieldErrors)
        : new Map<string, string>(),
    [error],
  );

  const start = async (event: FormEvent) => {
    event.preventDefault();
    setStarting(true);
    setError(undefined);
    try {
      const sent: Record<string, string> = {};
      for (const input of inputs) {
        const value = values[input.name];
        if (value !== undefined && value !== '') sent[input.name] = value;
      }
      const run = await workflowApi.start(projectId, workflow.id, sent);
      await navigate({
        to: '/projects/$projectId/workflow-runs/$runId',
        params: { projectId, runId: run.id },
      });
    } catch (failure) {
      setError(failure);
      setStarting(false);
    }
  };

  return (
    <form className="card stack" onSubmit={start} aria-label="Start a run">
      <h2>Run version {workflow.version}</h2>
      {inputs.length > 0 && (
        <div className="field-grid">
          {inputs.map((input) => {
            const issue = issues.get(`inputs.${input.name}`);
            const id = `run-input-${input.name}`;
            return (
              <div className="field" key={input.name}>
                <label htmlFor={id}>{input.name}</label>
                <input
                  id={id}
                  value={values[input.name] ?? ''}
                  placeholder={input.default ?? '(required)'}
                  aria-invalid={issue !== undefined}
                  aria-describedby={issue ? `${id}-error` : undefined}
                  onChange={(event) => setValues({ ...values, [input.name]: event.target.value })}
                />
                {issue && (
                  <p className="field-error" id={`${id}-error`}>
                    {issue}
                  </p>
                )}
              </div>
            );
          })}
        </div>
      )}
      <FormError error={error} />
      <div className="row">
        <button type="submit" className="primary" disabled={starting}>
          Start run
        </button>
      </div>
    </form>
  );
}

/**
 * /projects/:projectId/workflows/:workflowId — start a run, the recent runs, and the editor
 * (saving makes a new version; runs in flight keep theirs).
 */
export function WorkflowPage() {
  const { projectId, workflowId } = useParams({ strict: false }) as {
    projectId: string;
    workflowId: string;
  };
  useEffect(() => rememberProject(projectId), [projectId]);
  const queryClient = useQueryClient();
  const notices = useNotices();
  const workflow = useQuery({
    queryKey: ['workflow', projectId, workflowId],
    queryFn: () => workflowApi.get(projectId, workflowId),
  });
  const runs = useQuery({
    queryKey: ['workflow-runs', projectId, workflowId],
    queryFn: () => workflowApi.runs(projectId, workflowId),
  });

  if (workflow.isPending) return <p className="page muted">Loading…</p>;
  if (workflow.isError)
    return (
      <section className="page">
        <FormError error={workflow.error} />
      </section>
    );
  const current = workflow.data;
  const items = runs.data?.items ?? [];

  return (
    <section className="page">
      <p>
        <Link to="/projects/$projectId/workflows" params={{ projectId }}>
          ‹ Workflows
        </Link>
      </p>
      <h1>{current.name}</h1>
      {current.definition.description && <p className="muted">{current.definition.description}</p>}
      <StartRun projectId={projectId} workflow={current} />

      <section aria-label="Runs" className="card">
        <h2>Runs</h2>
        <FormError error={runs.error} />
        {runs.isPending ? (
          <p className="muted">Loading…</p>
        ) : items.length === 0 ? (
          <p className="muted">No runs yet.</p>
        ) : (
          <div className="table-scroll">
            <table className="data-table" aria-label="Runs">
              <thead>
                <tr>
                  <th scope="col">Run</th>
                  <th scope="col">Status</th>
                  <th scope="col" className="number">
                    Version
                  </th>
                  <th scope="col">Started</th>
                  <th scope="col">Finished</th>
                </tr>
              </thead>
              <tbody>
                {items.map((run) => (
                  <tr key={run.id}>
                    <td>
                      <Link
                        to="/projects/$projectId/workflow-runs/$runId"
                        params={{ projectId, runId: run.id }}
                      >
                        {formatDateTime(run.createdAt)}
                      </Link>
                      {run.fromStep && <span className="muted small"> · from {run.fromStep}</span>}
                    </td>
                    <td>
                      <span className={`status status-${run.status}`}>
                        {RUN_STATUS_LABELS[run.status] ?? run.status}
                      </span>
                    </td>
                    <td className="number">{run.version}</td>
                    <td>{formatDateTime(run.startedAt)}</td>
                    <td>{formatDateTime(run.finishedAt)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>

      <section aria-label="Edit the workflow">
        <h2>Edit (version {current.version})</h2>
        <WorkflowEditor
          key={current.version}
          projectId={projectId}
          workflow={current}
          initial={draftOf(current.name, current.definition)}
          onSave={async (name, definition) => {
            const saved = await workflowApi.update(projectId, workflowId, {
              baseVersion: current.version,
              name,
              definition,
            });
            queryClient.setQueryData(['workflow', projectId, workflowId], saved);
            await queryClient.invalidateQueries({ queryKey: ['workflows', projectId] });
            notices.info(`Saved version ${saved.version}.`);
          }}
        />
      </section>
    </section>
  );
}
