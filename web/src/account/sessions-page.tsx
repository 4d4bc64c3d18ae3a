import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { authApi } from '../api/auth-api.ts';
import { FormError } from '../ui/form-error.tsx';
import { formatDateTime } from '../ui/format.ts';
import { useNotices } from '../ui/notices.tsx';

export function SessionsPage() {
  const queryClient = useQueryClient();
  const notices = useNotices();
  const sessions = useQuery({ queryKey: ['sessions'], queryFn: () => authApi.sessions() });
  const revoke = useMutation({
    mutationFn: authApi.revokeSession,
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ['sessions'] }),
    onError: notices.error,
  });

  return (
    <section className="page">
      <h1>Sessions</h1>
      <p className="muted">Where you are signed in. Sign out any session you do not recognise.</p>
      <FormError error={sessions.error} />
      <div className="table-scroll">
        <table className="data-table">
          <thead>
            <tr>
              <th scope="col">Browser</th>
              <th scope="col">IP address</th>
              <th scope="col">Signed in</th>
              <th scope="col">Last seen</th>
              <th scope="col">Expires</th>
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {sessions.data?.items.map((session) => (
              <tr key={session.id}>
                <td className="truncate" title={session.userAgent ?? ''}>
                  {session.userAgent ?? 'Unknown'}{' '}
                  {session.current && <span className="badge">This session</span>}
                </td>
                <td>{session.ip ?? '—'}</td>
                <td>{formatDateTime(session.createdAt)}</td>
                <td>{formatDateTime(session.lastSeenAt)}</td>
                <td>{formatDateTime(session.expiresAt)}</td>
                <td>
                  {!session.current && (
                    <button
                      type="button"
                      className="danger"
                      onClick={() => revoke.mutate(session.id)}
                    >
                      Sign out
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
