import { useQueryClient } from '@tanstack/react-query';
import { useNavigate } from '@tanstack/react-router';
import { type FormEvent, useState } from 'react';
import { authApi } from '../api/auth-api.ts';
import { FormError } from '../ui/form-error.tsx';

/** The setup token the server logs at first start: /setup#setup-token=… (never sent in a URL query). */
function tokenFromHash(): string | undefined {
  const match = /(?:^#|&)setup-token=([^&]+)/.exec(window.location.hash);
  return match ? decodeURIComponent(match[1]!) : undefined;
}

/** First run: create the first admin. Needs no token from the server's own machine. */
export function SetupPage() {
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const [setupToken, setSetupToken] = useState(tokenFromHash() ?? '');

  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const password = String(form.get('password'));
    if (password !== String(form.get('confirm'))) {
      setError(new Error('The two passwords differ.'));
      return;
    }
    setBusy(true);
    setError(undefined);
    try {
      await authApi.setup({
        email: String(form.get('email')),
        password,
        displayName: String(form.get('displayName') ?? ''),
        ...(setupToken ? { setupToken } : {}),
      });
      await queryClient.invalidateQueries();
      await navigate({ to: '/' });
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  };

  return (
    <main className="auth-page">
      <form className="auth-card" onSubmit={submit} aria-labelledby="setup-title">
        <h1 id="setup-title">Welcome to Brain Cells</h1>
        <p>Create the first administrator account.</p>
        <label>
          E-mail
          <input name="email" type="email" autoComplete="username" required maxLength={254} />
        </label>
        <label>
          Display name
          <input name="displayName" autoComplete="name" maxLength={200} />
        </label>
        <label>
          Password (at least 12 characters)
          <input
            name="password"
            type="password"
            autoComplete="new-password"
            required
            minLength={12}
            maxLength={256}
          />
        </label>
        <label>
          Repeat the password
          <input
            name="confirm"
            type="password"
            autoComplete="new-password"
            required
            minLength={12}
            maxLength={256}
          />
        </label>
        <details>
          <summary>Setting up from another machine?</summary>
          <label>
            Setup token (printed in the server log)
            <input
              value={setupToken}
              onChange={(event) => setSetupToken(event.target.value)}
              autoComplete="off"
            />
          </label>
        </details>
        <FormError error={error} />
        <button type="submit" className="primary" disabled={busy}>
          {busy ? 'Creating…' : 'Create account'}
        </button>
      </form>
    </main>
  );
}
