import { useQuery } from '@tanstack/react-query';
import { useNavigate } from '@tanstack/react-router';
import { useState } from 'react';
import { NewProjectDialog } from '../projects/new-project-dialog.tsx';
import { projectsQuery } from '../projects/project-queries.ts';

export function ProjectSwitcher({ projectId }: { projectId: string | undefined }) {
  const { data } = useQuery(projectsQuery);
  const navigate = useNavigate();
  const [creating, setCreating] = useState(false);
  return (
    <div className="project-switcher">
      <label>
        <span className="visually-hidden">Project</span>
        <select
          value={projectId ?? ''}
          onChange={(event) => {
            if (event.target.value) {
              void navigate({
                to: '/projects/$projectId/datasets',
                params: { projectId: event.target.value },
              });
            }
          }}
        >
          {!projectId && <option value="">Choose a project</option>}
          {data?.items.map((project) => (
            <option key={project.id} value={project.id}>
              {project.name}
            </option>
          ))}
        </select>
      </label>
      <button
        type="button"
        className="icon-button"
        aria-label="New project"
        title="New project"
        onClick={() => setCreating(true)}
      >
        +
      </button>
      <NewProjectDialog open={creating} onClose={() => setCreating(false)} />
    </div>
  );
}
