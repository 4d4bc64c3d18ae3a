import { useQueryClient } from '@tanstack/react-query';
import { useNavigate, useSearch } from '@tanstack/react-router';
import { type FormEvent, useEffect, useState } from 'react';
import { authApi } from '../api/auth-api.ts';
import { FormError } from '../ui/form-error.tsx';

/** Only same-app paths: a redirect parameter must never send the user to another site. */
export function safeRedirect(target: unknown): string {
  return typeof target === 'string' && target.startsWith('/') && !target.startsWith('//')
    ? target
    : '/';
}

/** E-mail and password, then a second step for an authenticator or recovery code. */
export function LoginPage() {
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const search = useSearch({ strict: false }) as { redirect?: string };
  const [challenge, setChallenge] = useState<string>();
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);

  // The first field of each step takes focus (the page has nothing else to do).
  // biome-ignore lint/correctness/useExhaustiveDependencies: runs when the step changes
  useEffect(() => {
    document.querySelector<HTMLInputElement>('.auth-card [data-autofocus]')?.focus();
  }, [challenge]);

  const finish = async () => {
    await queryClient.invalidateQueries();
    await navigate({ to: safeRedirect(search.redirect) });
  };

  const submitPassword = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    setBusy(true);
    setError(undefined);
    try {
      const result = await authApi.login({
        email: String(form.get('email')),
        password: String(form.get('password')),
      });
      if (result.status === 'mfa-required') setChallenge(result.challengeToken);
      else await finish();
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  };

  const submitCode = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    setBusy(true);
    setError(undefined);
    try {
      await authApi.loginMfa({ challengeToken: challenge!, code: String(form.get('code')) });
      await finish();
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  };

  return (
    <main className="auth-page">
      {challenge ? (
        <form className="auth-card" onSubmit={submitCode} aria-labelledby="mfa-title">
          <h1 id="mfa-title">Two-factor sign-in</h1>
          <label>
            Code from your authenticator app, or a recovery code
            <input
              name="code"
              autoComplete="one-time-code"
              inputMode="text"
              required
              minLength={6}
              maxLength={40}
              data-autofocus
            />
          </label>
          <FormError error={error} />
          <button type="submit" className="primary" disabled={busy}>
            {busy ? 'Checking…' : 'Sign in'}
          </button>
          <button type="button" className="link-button" onClick={() => setChallenge(undefined)}>
            Start over
          </button>
        </form>
      ) : (
        <form className="auth-card" onSubmit={submitPassword} aria-labelledby="login-title">
          <h1 id="login-title">Sign in to Brain Cells</h1>
          <label>
            E-mail
            <input
              name="email"
              type="email"
              autoComplete="username"
              required
              maxLength={254}
              data-autofocus
            />
          </label>
          <label>
            Password
            <input
              name="password"
              type="password"
              autoComplete="current-password"
              required
              maxLength={256}
            />
          </label>
          <FormError error={error} />
          <button type="submit" className="primary" disabled={busy}>
            {busy ? 'Signing in…' : 'Sign in'}
          </button>
        </form>
      )}
    </main>
  );
}
