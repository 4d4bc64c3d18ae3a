import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useParams } from '@tanstack/react-router';
import { type FormEvent, useState } from 'react';
import { llmApi, usdToNano } from '../api/llm-api.ts';
import { useConfirm } from '../ui/confirm.tsx';
import { FormError } from '../ui/form-error.tsx';
import { formatDateTime, formatInteger, formatNanoUsd } from '../ui/format.ts';
import { useNotices } from '../ui/notices.tsx';
import { type GatewayKeyInput, gatewayApi } from './gateway-api.ts';

const positive = (value: FormDataEntryValue | null): number | undefined => {
  const text = String(value ?? '').trim();
  return text === '' ? undefined : Number(text);
};

/**
 * /projects/:projectId/gateway — keys outside apps use to call models through Brain Cells
 * (docs/gateway.md): one model per key from this form (aliases and fallbacks through the API),
 * limits, a daily budget and the cache switch. The key is shown once, right after creation.
 */
export function GatewayKeysPage() {
  const { projectId } = useParams({ strict: false }) as { projectId: string };
  const queryClient = useQueryClient();
  const notices = useNotices();
  const confirm = useConfirm();
  const queryKey = ['gateway', projectId, 'keys'];
  const keys = useQuery({ queryKey, queryFn: () => gatewayApi.keys(projectId) });
  const providers = useQuery({
    queryKey: ['llm', projectId, 'providers'],
    queryFn: () => llmApi.providers(projectId),
  });
  const [secret, setSecret] = useState<string | undefined>();
  const refresh = () => queryClient.invalidateQueries({ queryKey });

  const create = useMutation({
    mutationFn: (form: FormData) => {
      const alias = String(form.get('alias') ?? '').trim();
      const budgetUsd = positive(form.get('budget'));
      const rpm = positive(form.get('rpm'));
      const tpm = positive(form.get('tpm'));
      const input: GatewayKeyInput = {
        name: String(form.get('name') ?? ''),
        models: [
          {
            provider: String(form.get('provider') ?? ''),
            model: String(form.get('model') ?? '').trim(),
            ...(alias ? { name: alias } : {}),
          },
        ],
        ...(rpm === undefined ? {} : { requestsPerMinute: rpm }),
        ...(tpm === undefined ? {} : { tokensPerMinute: tpm }),
        ...(budgetUsd === undefined
          ? {}
          : { budgets: [{ period: 'day', hardLimitNano: usdToNano(budgetUsd) }] }),
        cache: form.get('cache') === 'on',
      };
      return gatewayApi.createKey(projectId, input);
    },
    onSuccess: (created) => {
      setSecret(created.key);
      void refresh();
    },
  });
  const revoke = useMutation({
    mutationFn: (keyId: string) => gatewayApi.revokeKey(projectId, keyId),
    onSuccess: refresh,
    onError: notices.error,
  });

  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    setSecret(undefined);
    create.mutate(new FormData(event.currentTarget));
  };

  return (
    <section className="page stack">
      <h1>Gateway keys</h1>
      <p>
        Outside apps call models through this project with the official OpenAI or Anthropic client:
        base URL <code>{`${window.location.origin}/v1`}</code> (Anthropic:{' '}
        <code>{window.location.origin}</code>) and a key from here. Budgets, limits, fallbacks and
        spend apply to every call.
      </p>
      <form className="inline-form" onSubmit={submit} aria-label="New gateway key">
        <label>
          Name
          <input name="name" required maxLength={200} />
        </label>
        <label>
          Provider
          <select name="provider" required>
            {(providers.data?.items ?? []).map((provider) => (
              <option key={provider.id} value={provider.id}>
                {provider.name}
              </option>
            ))}
          </select>
        </label>
        <label>
          Model
          <input name="model" required placeholder="gpt-4o-mini" />
        </label>
        <label>
          Alias (optional)
          <input name="alias" placeholder="fast" />
        </label>
        <label>
          Requests / minute
          <input name="rpm" type="number" min={1} step={1} />
        </label>
        <label>
          Tokens / minute
          <input name="tpm" type="number" min={1} step={1} />
        </label>
        <label>
          Daily budget (USD)
          <input name="budget" type="number" min={0} step="any" />
        </label>
        <label>
          <input name="cache" type="checkbox" /> Cache answers
        </label>
        <button type="submit" className="primary" disabled={create.isPending}>
          Create key
        </button>
      </form>
      <FormError error={create.error} />
      {secret && (
        <div role="status" className="notice">
          <p>Copy the key now; it is not shown again.</p>
          <code data-testid="gateway-secret">{secret}</code>
        </div>
      )}
      <FormError error={keys.error} />
      <div className="table-scroll">
        <table>
          <thead>
            <tr>
              <th>Name</th>
              <th>Key</th>
              <th>Models</th>
              <th>Limits</th>
              <th>Budget today</th>
              <th>Last used</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {(keys.data?.items ?? []).map((key) => {
              const daily = key.budgets.find((budget) => budget.period === 'day');
              return (
                <tr key={key.id}>
                  <td>{key.name}</td>
                  <td>
                    <code>{key.prefix}…</code>
                  </td>
                  <td>{key.models.map((model) => model.name).join(', ')}</td>
                  <td>
                    {key.requestsPerMinute === null
                      ? '—'
                      : `${formatInteger(key.requestsPerMinute)} req/min`}
                    {key.tokensPerMinute === null
                      ? ''
                      : `, ${formatInteger(key.tokensPerMinute)} tok/min`}
                    {key.cache ? ', cached' : ''}
                  </td>
                  <td>
                    {daily
                      ? `${formatNanoUsd(daily.spentNano)} of ${formatNanoUsd(daily.hardLimitNano)}`
                      : '—'}
                  </td>
                  <td>{key.lastUsedAt ? formatDateTime(key.lastUsedAt) : 'never'}</td>
                  <td>
                    {key.revokedAt ? (
                      'revoked'
                    ) : (
                      <button
                        type="button"
                        onClick={async () => {
                          if (
                            await confirm({
                              title: 'Revoke gateway key?',
                              message: `Revoke the key “${key.name}”? Apps using it stop working.`,
                              confirmLabel: 'Revoke',
                              danger: true,
                            })
                          )
                            revoke.mutate(key.id);
                        }}
                        aria-label={`Revoke ${key.name}`}
                      >
                        Revoke
                      </button>
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
    </section>
  );
}
