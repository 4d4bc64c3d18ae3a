import { useQuery } from '@tanstack/react-query';
import { Navigate } from '@tanstack/react-router';
import { FormError } from '../ui/form-error.tsx';
import { NewProjectForm } from './new-project-dialog.tsx';
import { projectsQuery } from './project-queries.ts';

const LAST_PROJECT = 'braincells.lastProject';

export function rememberProject(projectId: string) {
  localStorage.setItem(LAST_PROJECT, projectId);
}

/** Opens the last project used (or the first); with none, offers to create one. */
export function HomePage() {
  const projects = useQuery(projectsQuery);
  if (projects.error) return <FormError error={projects.error} />;
  if (!projects.data) return <p className="muted">Loading…</p>;
  const items = projects.data.items;
  const last = localStorage.getItem(LAST_PROJECT);
  const target = items.find((project) => project.id === last) ?? items[0];
  if (target)
    return (
      <Navigate to="/projects/$projectId/datasets" params={{ projectId: target.id }} replace />
    );
  return (
    <section className="page narrow">
      <h1>Create your first project</h1>
      <p className="muted">A project holds datasets, providers, budgets and its members.</p>
      <NewProjectForm />
    </section>
  );
}
