import { useQueries, useQuery } from '@tanstack/react-query';
import { useEffect, useId, useState } from 'react';
import { llmApi, type ModelInfo } from '../api/llm-api.ts';
import { defaultModel, isChatModel, modelDetails, modelOptionLabel } from './model-label.ts';

export interface ModelChoice {
  provider: string | undefined;
  model: string;
}

const OTHER = '__other__';

/**
 * Models grouped by provider (a native select with one optgroup per provider), from each
 * enabled provider's model list (the provider's own list merged with the price catalog), each
 * with its price per million tokens and context window; the chosen one is described below the
 * select. A search box narrows the list, models that cannot chat (embeddings, speech, images)
 * are hidden unless asked for, a small chat model is preselected, and a model the lists do not
 * know can still be typed.
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
  const [search, setSearch] = useState('');
  const [showAll, setShowAll] = useState(false);
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
  // A provider's enabled models; with none enabled (any model goes), those it offers (or,
  // when it cannot list them, the catalog's). While its list loads, enabled models show by id.
  const listOf = (index: number): (Pick<ModelInfo, 'id'> & Partial<ModelInfo>)[] => {
    const provider = enabled[index]!;
    const list = models[index]?.data;
    if (!list) return provider.models.map((model) => ({ id: model }));
    if (provider.models.length > 0) return list.models.filter((model) => model.enabled);
    return list.models.filter((model) => (list.providerListsModels ? model.offered : true));
  };
  const query = search.trim().toLowerCase();
  let hidden = 0;
  const shownOf = (index: number) =>
    listOf(index).filter((model) => {
      if (model.id === value.model && enabled[index]!.id === value.provider) return true;
      if (!showAll && !isChatModel(model.id)) {
        hidden += 1;
        return false;
      }
      return (
        query === '' ||
        model.id.toLowerCase().includes(query) ||
        (model.name ?? '').toLowerCase().includes(query)
      );
    });
  const shown = enabled.map((_, index) => shownOf(index));
  const loaded = enabled.length > 0 && models.every((result) => result.data !== undefined);

  // Nothing chosen yet: preselect a small chat model of the first provider that has one.
  // biome-ignore lint/correctness/useExhaustiveDependencies: runs when the lists arrive, not on every render
  useEffect(() => {
    if (value.model || custom || !loaded) return;
    for (const [index, provider] of enabled.entries()) {
      const pick = defaultModel(listOf(index));
      if (pick) {
        onChange({ provider: provider.id, model: pick.id });
        return;
      }
    }
  }, [loaded, value.model, custom]);

  const chosen = enabled.flatMap((provider, index) =>
    provider.id === value.provider ? listOf(index).filter((model) => model.id === value.model) : [],
  )[0];
  const known = chosen !== undefined;
  const selected =
    custom || (value.model && !known)
      ? OTHER
      : value.model
        ? `${value.provider ?? ''}|${value.model}`
        : '';
  const details =
    chosen && selected !== OTHER && chosen.priceSource !== undefined
      ? modelDetails(chosen as ModelInfo)
      : undefined;

  const priceUnknown =
    chosen !== undefined &&
    chosen.priceSource !== undefined &&
    chosen.inputUsdPerMtok === null &&
    chosen.outputUsdPerMtok === null;

  return (
    <div className="stack model-picker">
      {enabled.length > 0 && (
        <div className="row model-search">
          <label className="grow">
            <span className="visually-hidden">Search models</span>
            <input
              type="search"
              placeholder="Search models…"
              value={search}
              maxLength={200}
              onChange={(event) => setSearch(event.target.value)}
            />
          </label>
          {(hidden > 0 || showAll) && (
            <label className="checkbox">
              <input
                type="checkbox"
                checked={showAll}
                onChange={(event) => setShowAll(event.target.checked)}
              />
              Show all{hidden > 0 ? ` (${hidden} that cannot chat)` : ''}
            </label>
          )}
        </div>
      )}
      <label htmlFor={`${id}-model`}>Model</label>
      <select
        id={`${id}-model`}
        value={selected}
        aria-describedby={details ? `${id}-details` : undefined}
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
        {enabled.map((provider, index) => (
          <optgroup key={provider.id} label={`${provider.name} (${provider.kind})`}>
            {shown[index]!.map((model) => (
              <option key={model.id} value={`${provider.id}|${model.id}`}>
                {model.priceSource === undefined ? model.id : modelOptionLabel(model as ModelInfo)}
              </option>
            ))}
          </optgroup>
        ))}
        <option value={OTHER}>Another model…</option>
      </select>
      {details && (
        <p id={`${id}-details`} className="hint" data-testid="model-details">
          {details}
          {priceUnknown && (
            <>
              {' '}
              <a
                href={`/projects/${encodeURIComponent(projectId)}/settings?tab=prices`}
                target="_blank"
                rel="noopener"
              >
                Set its price in Prices
              </a>
            </>
          )}
        </p>
      )}
      {query !== '' && shown.every((list) => list.length === 0) && (
        <p className="hint">No model matches “{search}”.</p>
      )}
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
