import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect, useId, useState } from 'react';
import { type ModelChoice, ModelPicker } from '../ai/model-picker.tsx';
import { ApiError } from '../api/api-error.ts';
import { FormError } from '../ui/form-error.tsx';
import { useNotices } from '../ui/notices.tsx';
import { chatApi } from './chat-api.ts';

/**
 * The project's summarizer (docs/chat.md "Context fitting"): the model that writes summary
 * checkpoints for threads whose agent names none, chosen in the model picker (prices and
 * context windows beside each model); "Use the reply's model" (the default) saves none. A 400
 * is shown under the field it names (`summaryModel`, `summaryProvider`).
 */
export function ProjectSummarizer({ projectId }: { projectId: string }) {
  const id = useId();
  const queryClient = useQueryClient();
  const notices = useNotices();
  const key = ['chat', projectId, 'settings'];
  const settings = useQuery({ queryKey: key, queryFn: () => chatApi.settings(projectId) });
  // Checked: no summarizer of its own (the reply's model). The picker always preselects a
  // model, so "none" is this box, not an empty choice in the picker.
  const [replyModel, setReplyModel] = useState(true);
  const [choice, setChoice] = useState<ModelChoice>({ provider: undefined, model: '' });
  useEffect(() => {
    if (!settings.data) return;
    setReplyModel(!settings.data.summaryModel);
    setChoice({
      provider: settings.data.summaryProvider ?? undefined,
      model: settings.data.summaryModel ?? '',
    });
  }, [settings.data]);

  const save = useMutation({
    mutationFn: () =>
      chatApi.updateSettings(projectId, {
        summaryModel: replyModel ? null : choice.model.trim() || null,
        summaryProvider: replyModel || !choice.model.trim() ? null : (choice.provider ?? null),
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
      <label className="checkbox">
        <input
          type="checkbox"
          checked={replyModel}
          onChange={(event) => setReplyModel(event.target.checked)}
        />
        Use the reply's model
      </label>
      {!replyModel && (
        <div
          aria-invalid={modelIssue !== undefined || providerIssue !== undefined}
          aria-describedby={
            [modelIssue && `${id}-model-error`, providerIssue && `${id}-provider-error`]
              .filter(Boolean)
              .join(' ') || undefined
          }
        >
          <ModelPicker projectId={projectId} value={choice} onChange={setChoice} />
        </div>
      )}
      <div className="row">
        <button
          type="submit"
          className="button"
          disabled={save.isPending || !settings.data || (!replyModel && !choice.model.trim())}
        >
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
