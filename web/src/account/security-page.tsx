import { useQueryClient } from '@tanstack/react-query';
import { type FormEvent, useState } from 'react';
import { authApi } from '../api/auth-api.ts';
import { useMe } from '../auth/session.ts';
import { FormError } from '../ui/form-error.tsx';
import { useNotices } from '../ui/notices.tsx';

/** Your password and two-factor sign-in (authenticator app + one-time recovery codes). */
export function SecurityPage() {
  const me = useMe();
  const queryClient = useQueryClient();
  const notices = useNotices();
  const [passwordError, setPasswordError] = useState<unknown>();
  const [setup, setSetup] = useState<{ secret: string; otpauthUri: string }>();
  const [codes, setCodes] = useState<string[]>();
  const [mfaError, setMfaError] = useState<unknown>();

  const run = async (task: () => Promise<void>, onError: (error: unknown) => void) => {
    onError(undefined);
    try {
      await task();
    } catch (error) {
      onError(error);
    }
  };

  const changePassword = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = event.currentTarget;
    const data = new FormData(form);
    if (data.get('newPassword') !== data.get('confirm')) {
      setPasswordError(new Error('The two new passwords differ.'));
      return;
    }
    void run(async () => {
      const { revokedSessions } = await authApi.changePassword({
        currentPassword: String(data.get('currentPassword')),
        newPassword: String(data.get('newPassword')),
      });
      form.reset();
      notices.info(
        `Password changed; ${revokedSessions} other session${revokedSessions === 1 ? '' : 's'} signed out.`,
      );
    }, setPasswordError);
  };

  const refreshMe = () => queryClient.invalidateQueries({ queryKey: ['me'] });

  return (
    <section className="page narrow stack">
      <h1>Security</h1>
      <form className="stack" onSubmit={changePassword} aria-labelledby="password-title">
        <h2 id="password-title">Password</h2>
        <label>
          Current password
          <input
            name="currentPassword"
            type="password"
            autoComplete="current-password"
            required
            maxLength={256}
          />
        </label>
        <label>
          New password (at least 12 characters)
          <input
            name="newPassword"
            type="password"
            autoComplete="new-password"
            required
            minLength={12}
            maxLength={256}
          />
        </label>
        <label>
          Repeat the new password
          <input
            name="confirm"
            type="password"
            autoComplete="new-password"
            required
            minLength={12}
            maxLength={256}
          />
        </label>
        <FormError error={passwordError} />
        <button type="submit" className="primary">
          Change password
        </button>
      </form>

      <section className="stack" aria-labelledby="mfa-title">
        <h2 id="mfa-title">Two-factor sign-in</h2>
        {codes && (
          <div className="callout" role="status">
            <p>
              Keep these recovery codes somewhere safe. Each works once instead of an app code; they
              are not shown again.
            </p>
            <ul className="recovery-codes" data-testid="recovery-codes">
              {codes.map((code) => (
                <li key={code}>
                  <code>{code}</code>
                </li>
              ))}
            </ul>
            <button type="button" onClick={() => setCodes(undefined)}>
              I saved them
            </button>
          </div>
        )}
        {me.user.mfaEnabled ? (
          <form
            className="stack"
            onSubmit={(event) => {
              event.preventDefault();
              const data = new FormData(event.currentTarget);
              const submitter = (event.nativeEvent as SubmitEvent)
                .submitter as HTMLButtonElement | null;
              void run(async () => {
                if (submitter?.value === 'codes') {
                  setCodes(
                    (await authApi.mfaRecoveryCodes(String(data.get('code')))).recoveryCodes,
                  );
                } else {
                  await authApi.mfaDisable({
                    password: String(data.get('password')),
                    code: String(data.get('code')),
                  });
                  await refreshMe();
                  notices.info('Two-factor sign-in is off.');
                }
              }, setMfaError);
            }}
          >
            <p>On: signing in asks for a code from your authenticator app.</p>
            <label>
              Code from your app
              <input
                name="code"
                autoComplete="one-time-code"
                required
                minLength={6}
                maxLength={40}
              />
            </label>
            <label>
              Password (to turn it off)
              <input
                name="password"
                type="password"
                autoComplete="current-password"
                maxLength={256}
              />
            </label>
            <FormError error={mfaError} />
            <div className="row">
              <button type="submit" value="codes">
                New recovery codes
              </button>
              <button type="submit" value="disable" className="danger">
                Turn off
              </button>
            </div>
          </form>
        ) : setup ? (
          <form
            className="stack"
            onSubmit={(event) => {
              event.preventDefault();
              const code = String(new FormData(event.currentTarget).get('code'));
              void run(async () => {
                setCodes((await authApi.mfaEnable(code)).recoveryCodes);
                setSetup(undefined);
                await refreshMe();
              }, setMfaError);
            }}
          >
            <p>
              Add this key to your authenticator app (or open the link on a phone that has one),
              then type the code it shows.
            </p>
            <code className="secret" data-testid="mfa-secret">
              {setup.secret}
            </code>
            <a href={setup.otpauthUri}>Open in an authenticator app</a>
            <label>
              Code from your app
              <input
                name="code"
                autoComplete="one-time-code"
                inputMode="numeric"
                required
                minLength={6}
                maxLength={40}
              />
            </label>
            <FormError error={mfaError} />
            <button type="submit" className="primary">
              Turn on
            </button>
          </form>
        ) : (
          <div className="stack">
            <p>Off. With it on, signing in also needs a code from an authenticator app.</p>
            <FormError error={mfaError} />
            <button
              type="button"
              className="primary"
              onClick={() => void run(async () => setSetup(await authApi.mfaSetup()), setMfaError)}
            >
              Set up two-factor sign-in
            </button>
          </div>
        )}
      </section>
    </section>
  );
}
