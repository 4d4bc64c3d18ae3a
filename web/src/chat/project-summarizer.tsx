import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect, useId, useState } from 'react';
import { ApiError } from '../api/api-error.ts';
import { llmApi } from '../api/llm-api.ts';
import { FormError } from '../ui/form-error.tsx';
import { useNotices } from '../ui/notices.tsx';
import { chatApi } from './chat-api.ts';

/**
 * The project's summarizer (docs/chat.md "Context fitting"): the model that writes summary
 * checkpoints for threads whose agent names none. Empty: the reply's own model. A 400 is shown
 * under the field it names (`summaryModel`, `summaryProvider`).
 */
export function ProjectSummarizer({ projectId }: { projectId: string }) {
  const id = useId();
  const queryClient = useQueryClient();
  const notices = useNotices();
  const key = ['chat', projectId, 'settings'];
  const settings = useQuery({ queryKey: key, queryFn: () => chatApi.settings(projectId) });
  const providers = useQuery({
    queryKey: ['llm', projectId, 'providers'],
    queryFn: () => llmApi.providers(projectId),
  });
  const [model, setModel] = useState('');
  const [provider, setProvider] = useState('');
  useEffect(() => {
    if (!settings.data) return;
    setModel(settings.data.summaryModel ?? '');
    setProvider(settings.data.summaryProvider ?? '');
  }, [settings.data]);

  const save = useMutation({
    mutationFn: () =>
      chatApi.updateSettings(projectId, {
        summaryModel: model.trim() || null,
        summaryProvider: model.trim() && provider ? provider : null,
      }),
    onSuccess: (saved) => {
      queryClient.setQueryData(key, saved);
      notices.info(
        saved.summaryModel
          ? `Threads are summarized with ${saved.summaryModel} unless their agent names a model.`
          : "Threads are summarized with the reply's model unless their agent names one.",
      );
    },
  });
  const issue = (field: string) =>
    save.error instanceof ApiError
      ? save.error.fieldErrors.find((entry) => entry.path.replace(/^body\./, '') === field)?.message
      : undefined;
  const modelIssue = issue('summaryModel');
  const providerIssue = issue('summaryProvider');
  const enabled = (providers.data?.items ?? []).filter((item) => item.enabled);

  return (
    <form
      className="card stack"
      aria-label="Project summarizer"
      onSubmit={(event) => {
        event.preventDefault();
        save.mutate();
      }}
    >
      <h2>Summarizer</h2>
      <p className="muted small">
        The model that summarizes a thread grown past its window, for agents that name none. Empty:
        the reply's own model.
      </p>
      <div className="row">
        <label htmlFor={`${id}-model`}>Summarizer model</label>
        <input
          id={`${id}-model`}
          value={model}
          maxLength={200}
          placeholder="the reply's model"
          aria-invalid={modelIssue !== undefined}
          aria-describedby={modelIssue ? `${id}-model-error` : undefined}
          onChange={(event) => setModel(event.target.value)}
        />
        <label htmlFor={`${id}-provider`}>Provider</label>
        <select
          id={`${id}-provider`}
          value={provider}
          disabled={!model.trim()}
          aria-invalid={providerIssue !== undefined}
          aria-describedby={providerIssue ? `${id}-provider-error` : undefined}
          onChange={(event) => setProvider(event.target.value)}
        >
          <option value="">Any that has the model</option>
          {provider !== '' && !enabled.some((item) => item.id === provider) && (
            <option value={provider}>Unknown ({provider})</option>
          )}
          {enabled.map((item) => (
            <option key={item.id} value={item.id}>
              {item.name}
            </option>
          ))}
        </select>
        <button type="submit" className="button" disabled={save.isPending || !settings.data}>
          Save summarizer
        </button>
      </div>
      {modelIssue && (
        <p className="field-error" id={`${id}-model-error`}>
          {modelIssue}
        </p>
      )}
      {providerIssue && (
        <p className="field-error" id={`${id}-provider-error`}>
          {providerIssue}
        </p>
      )}
      <FormError error={settings.error ?? (modelIssue || providerIssue ? undefined : save.error)} />
    </form>
  );
}
