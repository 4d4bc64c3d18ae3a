import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Link, useNavigate, useParams } from '@tanstack/react-router';
import { useEffect } from 'react';
import { rememberProject } from '../projects/home-page.tsx';
import { useConfirm } from '../ui/confirm.tsx';
import { FormError } from '../ui/form-error.tsx';
import { formatDateTime } from '../ui/format.ts';
import { useNotices } from '../ui/notices.tsx';
import { workflowApi } from './workflow-api.ts';
import { emptyDraft } from './workflow-draft.ts';
import { WorkflowEditor } from './workflow-editor.tsx';
import './workflows.css';

/** /projects/:projectId/workflows — the project's workflows (docs/workflows.md). */
export function WorkflowsPage() {
  const { projectId } = useParams({ strict: false }) as { projectId: string };
  useEffect(() => rememberProject(projectId), [projectId]);
  const queryClient = useQueryClient();
  const confirm = useConfirm();
  const notices = useNotices();
  const workflows = useQuery({
    queryKey: ['workflows', projectId],
    queryFn: () => workflowApi.list(projectId),
  });
  const remove = useMutation({
    mutationFn: (id: string) => workflowApi.remove(projectId, id),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ['workflows', projectId] }),
    onError: (error) => notices.error(error),
  });
  const items = workflows.data?.items ?? [];

  return (
    <section className="page">
      <header className="row">
        <h1>Workflows</h1>
        <span className="spacer" />
        <Link
          to="/projects/$projectId/workflows/templates"
          params={{ projectId }}
          className="button"
        >
          From a template
        </Link>
        <Link
          to="/projects/$projectId/workflows/new"
          params={{ projectId }}
          className="button primary"
        >
          New workflow
        </Link>
      </header>
      <p className="muted">
        Durable multi-step runs: documents → extraction → queries → a findings report. A run keeps
        the version it started with.
      </p>
      <FormError error={workflows.error} />
      {workflows.isPending ? (
        <p className="muted">Loading…</p>
      ) : items.length === 0 ? (
        <p className="muted">
          No workflows yet. Start from a template, or create one with “New workflow”.
        </p>
      ) : (
        <div className="table-scroll">
          <table className="data-table" aria-label="Workflows">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Steps</th>
                <th scope="col" className="number">
                  Version
                </th>
                <th scope="col">Updated</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {items.map((workflow) => (
                <tr key={workflow.id}>
                  <td>
                    <Link
                      to="/projects/$projectId/workflows/$workflowId"
                      params={{ projectId, workflowId: workflow.id }}
                    >
                      {workflow.name}
                    </Link>
                  </td>
                  <td>{workflow.definition.steps.map((step) => step.id).join(' → ')}</td>
                  <td className="number">{workflow.version}</td>
                  <td>{formatDateTime(workflow.updatedAt)}</td>
                  <td>
                    <button
                      type="button"
                      className="danger"
                      aria-label={`Delete ${workflow.name}`}
                      onClick={async () => {
                        const sure = await confirm({
                          title: `Delete “${workflow.name}”?`,
                          message:
                            'The workflow is deleted; its runs and reports are kept. Datasets it used are no longer protected by it.',
                          confirmLabel: 'Delete workflow',
                          danger: true,
                        });
                        if (sure) remove.mutate(workflow.id);
                      }}
                    >
                      Delete
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

/** /projects/:projectId/workflows/new — a new workflow in the editor. */
export function NewWorkflowPage() {
  const { projectId } = useParams({ strict: false }) as { projectId: string };
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  return (
    <section className="page">
      <p>
        <Link to="/projects/$projectId/workflows" params={{ projectId }}>
          ‹ Workflows
        </Link>
      </p>
      <h1>New workflow</h1>
      <WorkflowEditor
        projectId={projectId}
        initial={emptyDraft()}
        onSave={async (name, definition) => {
          const created = await workflowApi.create(projectId, { name, definition });
          await queryClient.invalidateQueries({ queryKey: ['workflows', projectId] });
          await navigate({
            to: '/projects/$projectId/workflows/$workflowId',
            params: { projectId, workflowId: created.id },
          });
        }}
      />
    </section>
  );
}
