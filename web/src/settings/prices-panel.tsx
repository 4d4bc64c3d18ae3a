import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import type { FormEvent } from 'react';
import { llmApi } from '../api/llm-api.ts';
import { FormError } from '../ui/form-error.tsx';
import { formatDateTime } from '../ui/format.ts';
import { useNotices } from '../ui/notices.tsx';

const usd = (value: number | null) => (value === null ? '—' : `$${value}`);

/** Price overrides (USD per million tokens) for models the catalog does not price, from a date on. */
export function PricesPanel({ projectId }: { projectId: string }) {
  const queryClient = useQueryClient();
  const notices = useNotices();
  const key = ['llm', projectId, 'prices'];
  const prices = useQuery({ queryKey: key, queryFn: () => llmApi.prices(projectId) });
  const refresh = () =>
    Promise.all([
      queryClient.invalidateQueries({ queryKey: key }),
      // The model picker shows each model's price: overrides change it.
      queryClient.invalidateQueries({ queryKey: ['llm', projectId, 'models'] }),
    ]);
  const create = useMutation({
    mutationFn: (form: FormData) => {
      const optional = (name: string) => {
        const text = String(form.get(name) ?? '').trim();
        return text ? { [name]: Number(text) } : {};
      };
      const validFrom = String(form.get('validFrom') ?? '');
      return llmApi.createPrice(projectId, {
        model: String(form.get('model')),
        inputUsdPerMtok: Number(form.get('inputUsdPerMtok')),
        outputUsdPerMtok: Number(form.get('outputUsdPerMtok')),
        ...optional('cacheReadUsdPerMtok'),
        ...optional('cacheWriteUsdPerMtok'),
        ...(validFrom ? { validFrom: new Date(`${validFrom}T00:00:00Z`).toISOString() } : {}),
      });
    },
    onSuccess: refresh,
  });
  const remove = useMutation({
    mutationFn: (priceId: string) => llmApi.deletePrice(projectId, priceId),
    onSuccess: refresh,
    onError: notices.error,
  });

  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    create.mutate(new FormData(event.currentTarget));
  };

  return (
    <div className="stack">
      <p className="muted">
        Prices come from the genai-prices catalog; set your own here for self-hosted or unlisted
        models (USD per million tokens).
      </p>
      <form className="inline-form" onSubmit={submit}>
        <label>
          Model
          <input name="model" required maxLength={200} />
        </label>
        <label>
          Input $/M
          <input name="inputUsdPerMtok" type="number" min={0} step="any" required />
        </label>
        <label>
          Output $/M
          <input name="outputUsdPerMtok" type="number" min={0} step="any" required />
        </label>
        <label>
          Cache read $/M
          <input name="cacheReadUsdPerMtok" type="number" min={0} step="any" />
        </label>
        <label>
          Cache write $/M
          <input name="cacheWriteUsdPerMtok" type="number" min={0} step="any" />
        </label>
        <label>
          From
          <input name="validFrom" type="date" />
        </label>
        <button type="submit" className="primary" disabled={create.isPending}>
          Add price
        </button>
      </form>
      <FormError error={create.error ?? prices.error} />
      <div className="table-scroll">
        <table className="data-table">
          <thead>
            <tr>
              <th scope="col">Model</th>
              <th scope="col" className="number">
                Input $/M
              </th>
              <th scope="col" className="number">
                Output $/M
              </th>
              <th scope="col" className="number">
                Cache read $/M
              </th>
              <th scope="col" className="number">
                Cache write $/M
              </th>
              <th scope="col">Valid from</th>
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {prices.data?.items.map((price) => (
              <tr key={price.id}>
                <td>{price.model}</td>
                <td className="number">{usd(price.inputUsdPerMtok)}</td>
                <td className="number">{usd(price.outputUsdPerMtok)}</td>
                <td className="number">{usd(price.cacheReadUsdPerMtok)}</td>
                <td className="number">{usd(price.cacheWriteUsdPerMtok)}</td>
                <td>{formatDateTime(price.validFrom)}</td>
                <td>
                  <button type="button" className="danger" onClick={() => remove.mutate(price.id)}>
                    Remove
                  </button>
                </td>
              </tr>
            ))}
            {prices.data?.items.length === 0 && (
              <tr>
                <td colSpan={7} className="muted">
                  No overrides.
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
    </div>
  );
}
