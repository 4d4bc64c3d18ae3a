import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { type FormEvent, useState } from 'react';
import { type ApiKeyScope, authApi } from '../api/auth-api.ts';
import { useConfirm } from '../ui/confirm.tsx';
import { FormError } from '../ui/form-error.tsx';
import { formatDateTime } from '../ui/format.ts';
import { useNotices } from '../ui/notices.tsx';

const SCOPES: ApiKeyScope[] = ['read', 'write', 'admin'];

export function ApiKeysPage() {
  const queryClient = useQueryClient();
  const notices = useNotices();
  const confirm = useConfirm();
  const keys = useQuery({ queryKey: ['api-keys'], queryFn: () => authApi.apiKeys() });
  const [created, setCreated] = useState<string>();
  const create = useMutation({
    mutationFn: authApi.createApiKey,
    onSuccess: (result) => {
      setCreated(result.key);
      void queryClient.invalidateQueries({ queryKey: ['api-keys'] });
    },
  });
  const revoke = useMutation({
    mutationFn: authApi.revokeApiKey,
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ['api-keys'] }),
    onError: notices.error,
  });

  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const scope = String(form.get('scope')) as ApiKeyScope;
    const expires = String(form.get('expiresAt') ?? '');
    create.mutate({
      name: String(form.get('name')),
      scopes: SCOPES.slice(0, SCOPES.indexOf(scope) + 1),
      ...(expires ? { expiresAt: new Date(`${expires}T23:59:59Z`).toISOString() } : {}),
    });
    event.currentTarget.reset();
  };

  return (
    <section className="page">
      <h1>API keys</h1>
      <p className="muted">
        Use a key as <code>Authorization: Bearer &lt;key&gt;</code>. Keys act as you.
      </p>
      <form className="inline-form" onSubmit={submit}>
        <label>
          Name
          <input name="name" required maxLength={200} />
        </label>
        <label>
          Access
          <select name="scope" defaultValue="read">
            <option value="read">Read</option>
            <option value="write">Read and write</option>
            <option value="admin">Admin</option>
          </select>
        </label>
        <label>
          Expires (optional)
          <input name="expiresAt" type="date" />
        </label>
        <button type="submit" className="primary" disabled={create.isPending}>
          Create key
        </button>
      </form>
      <FormError error={create.error} />
      {created && (
        <div className="callout" role="status">
          <p>Copy this key now; it is not shown again.</p>
          <code className="secret" data-testid="new-api-key">
            {created}
          </code>{' '}
          <button type="button" onClick={() => void navigator.clipboard?.writeText(created)}>
            Copy
          </button>{' '}
          <button type="button" onClick={() => setCreated(undefined)}>
            Done
          </button>
        </div>
      )}
      <FormError error={keys.error} />
      <div className="table-scroll">
        <table className="data-table">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Key</th>
              <th scope="col">Scopes</th>
              <th scope="col">Last used</th>
              <th scope="col">Expires</th>
              <th scope="col">Created</th>
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {keys.data?.items.map((key) => (
              <tr key={key.id}>
                <td>{key.name}</td>
                <td>
                  <code>{key.prefix}…</code>
                </td>
                <td>{key.scopes.join(', ')}</td>
                <td>{formatDateTime(key.lastUsedAt)}</td>
                <td>{key.expiresAt ? formatDateTime(key.expiresAt) : 'Never'}</td>
                <td>{formatDateTime(key.createdAt)}</td>
                <td>
                  <button
                    type="button"
                    className="danger"
                    onClick={async () => {
                      if (
                        await confirm({
                          title: 'Revoke API key?',
                          message: `Revoke the key “${key.name}”? Programs using it stop working.`,
                          confirmLabel: 'Revoke',
                          danger: true,
                        })
                      )
                        revoke.mutate(key.id);
                    }}
                  >
                    Revoke
                  </button>
                </td>
              </tr>
            ))}
            {keys.data?.items.length === 0 && (
              <tr>
                <td colSpan={7} className="muted">
                  No API keys yet.
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
    </section>
  );
}
