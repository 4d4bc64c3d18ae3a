import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { type FormEvent, useState } from 'react';
import {
  llmApi,
  PROVIDER_KINDS,
  type Provider,
  type ProviderKind,
  type ProviderTest,
} from '../api/llm-api.ts';
import { useConfirm } from '../ui/confirm.tsx';
import { Dialog } from '../ui/dialog.tsx';
import { FormError } from '../ui/form-error.tsx';
import { useNotices } from '../ui/notices.tsx';

const KIND_LABELS: Record<ProviderKind, string> = {
  openai: 'OpenAI',
  anthropic: 'Anthropic',
  huggingface: 'Hugging Face',
  'openai-compatible': 'OpenAI-compatible (Ollama, vLLM, llama.cpp…)',
};

const numberOrUndefined = (value: FormDataEntryValue | null) => {
  const text = String(value ?? '').trim();
  return text ? Number(text) : undefined;
};

/** Provider connections: add with a key (stored encrypted, shown masked), test, limits, enable. */
export function ProvidersPanel({ projectId }: { projectId: string }) {
  const queryClient = useQueryClient();
  const notices = useNotices();
  const confirm = useConfirm();
  const key = ['llm', projectId, 'providers'];
  const providers = useQuery({ queryKey: key, queryFn: () => llmApi.providers(projectId) });
  const [editing, setEditing] = useState<Provider | 'new'>();
  const [tests, setTests] = useState<Record<string, ProviderTest | 'running'>>({});
  const refresh = () => queryClient.invalidateQueries({ queryKey: key });

  const remove = useMutation({
    mutationFn: (providerId: string) => llmApi.deleteProvider(projectId, providerId),
    onSuccess: refresh,
    onError: notices.error,
  });
  const toggle = useMutation({
    mutationFn: (provider: Provider) =>
      llmApi.updateProvider(projectId, provider.id, { enabled: !provider.enabled }),
    onSuccess: refresh,
    onError: notices.error,
  });

  const test = async (provider: Provider) => {
    setTests((all) => ({ ...all, [provider.id]: 'running' }));
    try {
      const result = await llmApi.testProvider(projectId, provider.id);
      setTests((all) => ({ ...all, [provider.id]: result }));
    } catch (error) {
      setTests((all) => {
        const { [provider.id]: _, ...rest } = all;
        return rest;
      });
      notices.error(error);
    }
  };

  return (
    <div className="stack">
      <div className="row">
        <p className="muted">
          Keys are stored encrypted and never shown again; only their last characters are.
        </p>
        <span className="spacer" />
        <button type="button" className="primary" onClick={() => setEditing('new')}>
          Add provider
        </button>
      </div>
      <FormError error={providers.error} />
      <div className="table-scroll">
        <table className="data-table">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Kind</th>
              <th scope="col">Key</th>
              <th scope="col">Limits</th>
              <th scope="col">Status</th>
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {providers.data?.items.map((provider) => {
              const result = tests[provider.id];
              const own = provider.source === 'project';
              return (
                <tr key={provider.id}>
                  <td>
                    {provider.name}
                    {provider.source !== 'project' && (
                      <span className="badge">
                        {provider.source === 'env' ? 'environment' : 'instance'}
                      </span>
                    )}
                    {provider.baseUrl && <div className="muted truncate">{provider.baseUrl}</div>}
                  </td>
                  <td>{KIND_LABELS[provider.kind]}</td>
                  <td>
                    <code>{provider.apiKey ?? (provider.hasApiKey ? '••••' : 'none')}</code>
                  </td>
                  <td>
                    {provider.maxConcurrency} at once
                    {provider.requestsPerMinute ? ` · ${provider.requestsPerMinute}/min` : ''}
                  </td>
                  <td>
                    {provider.enabled ? 'Enabled' : 'Disabled'}
                    {result === 'running' && <div className="muted">Testing…</div>}
                    {result && result !== 'running' && (
                      <div className={result.ok ? 'test-ok' : 'cell-error-text'} role="status">
                        {result.ok
                          ? `Works (${Math.round(result.latencyMs)} ms${result.modelChecked ? `, ${result.modelChecked}` : ''})`
                          : `${result.error?.message ?? 'Failed'}${result.error?.httpStatus ? ` (HTTP ${result.error.httpStatus})` : ''}`}
                      </div>
                    )}
                  </td>
                  <td className="row">
                    {own && (
                      <>
                        <button
                          type="button"
                          onClick={() => void test(provider)}
                          disabled={result === 'running'}
                        >
                          Test connection
                        </button>
                        <button type="button" onClick={() => setEditing(provider)}>
                          Edit
                        </button>
                        <button type="button" onClick={() => toggle.mutate(provider)}>
                          {provider.enabled ? 'Disable' : 'Enable'}
                        </button>
                        <button
                          type="button"
                          className="danger"
                          onClick={async () => {
                            if (
                              await confirm({
                                title: 'Remove provider?',
                                message: `Remove the provider “${provider.name}”? Its key is deleted; usage history stays.`,
                                confirmLabel: 'Remove',
                                danger: true,
                              })
                            )
                              remove.mutate(provider.id);
                          }}
                        >
                          Remove
                        </button>
                      </>
                    )}
                  </td>
                </tr>
              );
            })}
            {providers.data?.items.length === 0 && (
              <tr>
                <td colSpan={6} className="muted">
                  No providers yet. Add one to use AI columns.
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
      <ProviderDialog
        projectId={projectId}
        editing={editing}
        onClose={() => setEditing(undefined)}
        onSaved={() => {
          setEditing(undefined);
          void refresh();
        }}
      />
    </div>
  );
}

function ProviderDialog({
  projectId,
  editing,
  onClose,
  onSaved,
}: {
  projectId: string;
  editing: Provider | 'new' | undefined;
  onClose(): void;
  onSaved(): void;
}) {
  const existing = editing && editing !== 'new' ? editing : undefined;
  const [kind, setKind] = useState<ProviderKind>('openai');
  const save = useMutation({
    mutationFn: async (form: FormData) => {
      const apiKey = String(form.get('apiKey') ?? '').trim();
      const baseUrl = String(form.get('baseUrl') ?? '').trim();
      const models = String(form.get('models') ?? '')
        .split(/[\n,]/)
        .map((model) => model.trim())
        .filter(Boolean);
      const maxConcurrency = numberOrUndefined(form.get('maxConcurrency'));
      const requestsPerMinute = numberOrUndefined(form.get('requestsPerMinute'));
      const name = String(form.get('name'));
      if (existing) {
        return llmApi.updateProvider(projectId, existing.id, {
          name,
          models,
          ...(apiKey ? { apiKey } : {}),
          baseUrl: baseUrl || null,
          ...(maxConcurrency ? { maxConcurrency } : {}),
          requestsPerMinute: requestsPerMinute ?? null,
        });
      }
      return llmApi.createProvider(projectId, {
        name,
        kind: String(form.get('kind')) as ProviderKind,
        ...(apiKey ? { apiKey } : {}),
        ...(baseUrl ? { baseUrl } : {}),
        ...(models.length ? { models } : {}),
        ...(maxConcurrency ? { maxConcurrency } : {}),
        ...(requestsPerMinute ? { requestsPerMinute } : {}),
      });
    },
    onSuccess: onSaved,
  });
  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    save.mutate(new FormData(event.currentTarget));
  };
  const shownKind = existing?.kind ?? kind;
  return (
    <Dialog
      open={editing !== undefined}
      title={existing ? `Provider ${existing.name}` : 'Add a provider'}
      onClose={onClose}
      wide
    >
      <form className="stack" onSubmit={submit} key={existing?.id ?? 'new'}>
        <div className="row">
          <label>
            Name
            <input name="name" required maxLength={200} defaultValue={existing?.name ?? ''} />
          </label>
          <label>
            Kind
            <select
              name="kind"
              value={shownKind}
              disabled={existing !== undefined}
              onChange={(event) => setKind(event.target.value as ProviderKind)}
            >
              {PROVIDER_KINDS.map((option) => (
                <option key={option} value={option}>
                  {KIND_LABELS[option]}
                </option>
              ))}
            </select>
          </label>
        </div>
        <label>
          API key{existing?.hasApiKey ? ' (leave empty to keep the stored one)' : ''}
          <input name="apiKey" type="password" autoComplete="off" maxLength={1000} />
        </label>
        <label>
          Base URL
          {shownKind === 'openai-compatible'
            ? ''
            : ' (optional: leave empty for the provider’s own endpoint)'}
          <input
            name="baseUrl"
            type="url"
            required={shownKind === 'openai-compatible'}
            defaultValue={existing?.baseUrl ?? ''}
            placeholder="http://localhost:11434/v1"
          />
        </label>
        <label>
          Models to offer (comma or line separated; empty: any)
          <textarea name="models" rows={3} defaultValue={existing?.models.join('\n') ?? ''} />
        </label>
        <div className="row">
          <label>
            Requests at once
            <input
              name="maxConcurrency"
              type="number"
              min={1}
              max={1000}
              defaultValue={existing?.maxConcurrency ?? ''}
            />
          </label>
          <label>
            Requests per minute (empty: no limit)
            <input
              name="requestsPerMinute"
              type="number"
              min={1}
              max={1000000}
              defaultValue={existing?.requestsPerMinute ?? ''}
            />
          </label>
        </div>
        <FormError error={save.error} />
        <div className="dialog-actions">
          <button type="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="primary" disabled={save.isPending}>
            {existing ? 'Save' : 'Add provider'}
          </button>
        </div>
      </form>
    </Dialog>
  );
}
