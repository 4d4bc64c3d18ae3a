import { useQueries, useQuery } from '@tanstack/react-query';
import { useId, useState } from 'react';
import { llmApi } from '../api/llm-api.ts';

export interface ModelChoice {
  provider: string | undefined;
  model: string;
}

const OTHER = '__other__';

/**
 * Models grouped by provider, from each enabled provider's model list (the provider's own
 * list merged with the price catalog). A model the lists do not know can still be typed.
 */
export function ModelPicker({
  projectId,
  value,
  onChange,
}: {
  projectId: string;
  value: ModelChoice;
  onChange(choice: ModelChoice): void;
}) {
  const id = useId();
  const [custom, setCustom] = useState(false);
  const providers = useQuery({
    queryKey: ['llm', projectId, 'providers'],
    queryFn: () => llmApi.providers(projectId),
  });
  const enabled = (providers.data?.items ?? []).filter((provider) => provider.enabled);
  const models = useQueries({
    queries: enabled.map((provider) => ({
      queryKey: ['llm', projectId, 'models', provider.id],
      queryFn: () => llmApi.models(projectId, provider.id),
      staleTime: 5 * 60_000,
    })),
  });
  const known = enabled.some((provider, index) => {
    const list = models[index]?.data?.models ?? provider.models.map((model) => ({ id: model }));
    return provider.id === value.provider && list.some((model) => model.id === value.model);
  });
  const selected =
    custom || (value.model && !known)
      ? OTHER
      : value.model
        ? `${value.provider ?? ''}|${value.model}`
        : '';

  return (
    <div className="stack model-picker">
      <label htmlFor={`${id}-model`}>Model</label>
      <select
        id={`${id}-model`}
        value={selected}
        onChange={(event) => {
          if (event.target.value === OTHER) {
            setCustom(true);
            onChange({ provider: value.provider ?? enabled[0]?.id, model: '' });
          } else {
            setCustom(false);
            const [provider, ...rest] = event.target.value.split('|');
            onChange({ provider: provider || undefined, model: rest.join('|') });
          }
        }}
      >
        <option value="" disabled>
          {providers.isLoading
            ? 'Loading models…'
            : enabled.length
              ? 'Choose a model'
              : 'No provider yet: add one in Settings'}
        </option>
        {enabled.map((provider, index) => {
          const list =
            models[index]?.data?.models.filter((model) => model.enabled !== false) ??
            provider.models.map((model) => ({ id: model, name: null, inCatalog: false }));
          return (
            <optgroup key={provider.id} label={`${provider.name} (${provider.kind})`}>
              {list.map((model) => (
                <option key={model.id} value={`${provider.id}|${model.id}`}>
                  {model.name ?? model.id}
                  {model.inCatalog ? ' · priced' : ' · no known price'}
                </option>
              ))}
            </optgroup>
          );
        })}
        <option value={OTHER}>Another model…</option>
      </select>
      {selected === OTHER && (
        <div className="row">
          <label>
            Provider
            <select
              value={value.provider ?? ''}
              onChange={(event) =>
                onChange({ ...value, provider: event.target.value || undefined })
              }
            >
              {enabled.map((provider) => (
                <option key={provider.id} value={provider.id}>
                  {provider.name}
                </option>
              ))}
            </select>
          </label>
          <label>
            Model id
            <input
              value={value.model}
              maxLength={200}
              required
              onChange={(event) => onChange({ ...value, model: event.target.value })}
            />
          </label>
        </div>
      )}
    </div>
  );
}
