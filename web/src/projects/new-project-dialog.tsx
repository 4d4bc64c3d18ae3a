import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useNavigate } from '@tanstack/react-router';
import type { FormEvent } from 'react';
import { projectApi } from '../api/project-api.ts';
import { Dialog } from '../ui/dialog.tsx';
import { FormError } from '../ui/form-error.tsx';

export function NewProjectForm({ onCreated }: { onCreated?: () => void }) {
  const queryClient = useQueryClient();
  const navigate = useNavigate();
  const create = useMutation({
    mutationFn: (input: { name: string; description: string }) => projectApi.create(input),
    onSuccess: async (project) => {
      await queryClient.invalidateQueries({ queryKey: ['projects'] });
      onCreated?.();
      await navigate({ to: '/projects/$projectId/datasets', params: { projectId: project.id } });
    },
  });
  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    create.mutate({
      name: String(form.get('name')),
      description: String(form.get('description') ?? ''),
    });
  };
  return (
    <form onSubmit={submit} className="stack">
      <label>
        Project name
        <input name="name" required maxLength={200} />
      </label>
      <label>
        Description (optional)
        <textarea name="description" maxLength={2000} rows={3} />
      </label>
      <FormError error={create.error} />
      <button type="submit" className="primary" disabled={create.isPending}>
        Create project
      </button>
    </form>
  );
}

export function NewProjectDialog({ open, onClose }: { open: boolean; onClose: () => void }) {
  return (
    <Dialog open={open} title="New project" onClose={onClose}>
      <NewProjectForm onCreated={onClose} />
    </Dialog>
  );
}
