import { useMutation, useQuery } from '@tanstack/react-query';
import { type FormEvent, useState } from 'react';
import { type HubPublish, hubApi } from '../api/hub-api.ts';
import { Dialog } from '../ui/dialog.tsx';
import { FormError } from '../ui/form-error.tsx';

/**
 * "Publish to Hub" (docs/images.md "Publish to the Hub"): the repository, private or public,
 * the project's token if none is set yet; then the publish's status until it is done or failed
 * (a failed one can be retried: what the Hub holds is not sent again). The token is sent once
 * and never shown back.
 */
export function PublishDialog(props: {
  projectId: string;
  dataset: { id: string; name: string } | undefined;
  onClose: () => void;
}) {
  const { projectId, dataset } = props;
  const [publishId, setPublishId] = useState<string | undefined>();
  const token = useQuery({
    queryKey: ['hub-token', projectId],
    queryFn: () => hubApi.tokenStatus(projectId),
    enabled: dataset !== undefined,
  });
  const publish = useMutation({
    mutationFn: async (input: { repo: string; private: boolean; token: string }) => {
      if (input.token) await hubApi.setToken(projectId, input.token);
      return hubApi.publish(projectId, dataset!.id, { repo: input.repo, private: input.private });
    },
    onSuccess: (published) => setPublishId(published.id),
  });
  const status = useQuery({
    queryKey: ['hub-publish', projectId, publishId],
    queryFn: () => hubApi.get(projectId, publishId!),
    enabled: publishId !== undefined,
    refetchInterval: (query) =>
      query.state.data?.status === 'done' || query.state.data?.status === 'failed' ? false : 1_000,
  });
  const retry = useMutation({
    mutationFn: () => hubApi.retry(projectId, publishId!),
    onSuccess: () => void status.refetch(),
  });
  const close = () => {
    setPublishId(undefined);
    publish.reset();
    props.onClose();
  };
  const hasToken = token.data?.project || token.data?.environment;
  const current: HubPublish | undefined = status.data;

  return (
    <Dialog
      open={dataset !== undefined}
      title={`Publish “${dataset?.name ?? ''}” to the Hub`}
      onClose={close}
    >
      {publishId === undefined ? (
        <form
          className="stack"
          onSubmit={(event: FormEvent<HTMLFormElement>) => {
            event.preventDefault();
            const form = new FormData(event.currentTarget);
            publish.mutate({
              repo: String(form.get('repo')).trim(),
              private: form.get('private') === 'on',
              token: String(form.get('token') ?? '').trim(),
            });
          }}
        >
          <label>
            Repository (owner/name)
            <input
              name="repo"
              required
              maxLength={200}
              pattern="[A-Za-z0-9][A-Za-z0-9_.\-]*/[A-Za-z0-9][A-Za-z0-9_.\-]*"
            />
          </label>
          <label className="checkbox">
            <input name="private" type="checkbox" defaultChecked />
            Private repository
          </label>
          <label>
            Hugging Face token{hasToken ? ' (optional: one is set)' : ''}
            <input
              name="token"
              type="password"
              autoComplete="off"
              required={!hasToken}
              maxLength={400}
            />
          </label>
          <p className="muted">
            Publishes the data as Parquet with its images, a dataset card with each AI column's
            prompt and model, and braincells.json to {token.data?.hubUrl ?? 'the Hub'}.
          </p>
          <FormError error={publish.error} />
          <div className="dialog-actions">
            <button type="submit" className="primary" disabled={publish.isPending}>
              Publish
            </button>
          </div>
        </form>
      ) : (
        <div className="stack" aria-live="polite">
          <p>
            Status: <strong>{current?.status ?? 'queued'}</strong>
            {current && current.attempts > 1 ? ` (attempt ${current.attempts})` : ''}
          </p>
          {current?.status === 'done' && (
            <p>
              Published to{' '}
              <a href={current.repoUrl} target="_blank" rel="noopener noreferrer">
                {current.repo}
              </a>
              .
            </p>
          )}
          {current?.status === 'failed' && (
            <>
              <p role="alert" className="form-error">
                {current.error}
              </p>
              <FormError error={retry.error} />
              <div className="dialog-actions">
                <button
                  type="button"
                  className="primary"
                  onClick={() => retry.mutate()}
                  disabled={retry.isPending}
                >
                  Retry
                </button>
              </div>
            </>
          )}
        </div>
      )}
    </Dialog>
  );
}
