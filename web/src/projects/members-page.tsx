import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useParams } from '@tanstack/react-router';
import type { FormEvent } from 'react';
import { type ProjectRole, projectApi } from '../api/project-api.ts';
import { useMe } from '../auth/session.ts';
import { useConfirm } from '../ui/confirm.tsx';
import { FormError } from '../ui/form-error.tsx';
import { formatDateTime } from '../ui/format.ts';
import { useNotices } from '../ui/notices.tsx';
import { membersQuery, projectsQuery } from './project-queries.ts';

const ROLES: ProjectRole[] = ['viewer', 'editor', 'owner'];

/** Members and roles; owners (and instance admins) change them, everyone else reads. */
export function MembersPage() {
  const { projectId } = useParams({ strict: false }) as { projectId: string };
  const me = useMe();
  const queryClient = useQueryClient();
  const notices = useNotices();
  const confirm = useConfirm();
  const projects = useQuery(projectsQuery);
  const members = useQuery(membersQuery(projectId));
  const project = projects.data?.items.find((item) => item.id === projectId);
  const canManage = project?.role === 'owner' || me.user.isAdmin;
  const refresh = () =>
    queryClient.invalidateQueries({ queryKey: ['projects', projectId, 'members'] });

  const add = useMutation({
    mutationFn: (input: { email: string; role: ProjectRole }) =>
      projectApi.addMember(projectId, input),
    onSuccess: refresh,
  });
  const update = useMutation({
    mutationFn: (input: { userId: string; role: ProjectRole }) =>
      projectApi.updateMember(projectId, input.userId, input.role),
    onSuccess: refresh,
    onError: notices.error,
  });
  const remove = useMutation({
    mutationFn: (userId: string) => projectApi.removeMember(projectId, userId),
    onSuccess: refresh,
    onError: notices.error,
  });

  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    add.mutate({ email: String(form.get('email')), role: String(form.get('role')) as ProjectRole });
    event.currentTarget.reset();
  };

  return (
    <section className="page">
      <h1>Members{project ? ` of ${project.name}` : ''}</h1>
      {canManage && (
        <form className="inline-form" onSubmit={submit}>
          <label>
            E-mail of an existing user
            <input name="email" type="email" required maxLength={254} />
          </label>
          <label>
            Role
            <select name="role" defaultValue="editor">
              {ROLES.map((role) => (
                <option key={role} value={role}>
                  {role}
                </option>
              ))}
            </select>
          </label>
          <button type="submit" className="primary" disabled={add.isPending}>
            Add member
          </button>
        </form>
      )}
      <FormError error={add.error ?? members.error} />
      <div className="table-scroll">
        <table className="data-table">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">E-mail</th>
              <th scope="col">Role</th>
              <th scope="col">Added</th>
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {members.data?.items.map((member) => (
              <tr key={member.userId}>
                <td>{member.displayName || '—'}</td>
                <td>{member.email}</td>
                <td>
                  {canManage ? (
                    <select
                      aria-label={`Role of ${member.email}`}
                      value={member.role}
                      onChange={(event) =>
                        update.mutate({
                          userId: member.userId,
                          role: event.target.value as ProjectRole,
                        })
                      }
                    >
                      {ROLES.map((role) => (
                        <option key={role} value={role}>
                          {role}
                        </option>
                      ))}
                    </select>
                  ) : (
                    member.role
                  )}
                </td>
                <td>{formatDateTime(member.addedAt)}</td>
                <td>
                  {(canManage || member.userId === me.user.id) && (
                    <button
                      type="button"
                      className="danger"
                      onClick={async () => {
                        const self = member.userId === me.user.id;
                        if (
                          await confirm(
                            self
                              ? {
                                  title: 'Leave this project?',
                                  message: 'You lose access until someone adds you again.',
                                  confirmLabel: 'Leave',
                                  danger: true,
                                }
                              : {
                                  title: 'Remove member?',
                                  message: `Remove ${member.email} from this project?`,
                                  confirmLabel: 'Remove',
                                  danger: true,
                                },
                          )
                        )
                          remove.mutate(member.userId);
                      }}
                    >
                      {member.userId === me.user.id ? 'Leave' : 'Remove'}
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
