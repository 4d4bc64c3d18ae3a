import { useQuery } from '@tanstack/react-query';
import { useParams } from '@tanstack/react-router';
import { useMemo, useState } from 'react';
import { type EntitySpend, llmApi, type SpendEntity } from '../api/llm-api.ts';
import { type Dataset, sheetApi } from '../api/sheet-api.ts';
import { FormError } from '../ui/form-error.tsx';
import { formatInteger, formatNanoUsd, formatSpend } from '../ui/format.ts';
import { SpendChart } from './spend-chart.tsx';

const ENTITIES: { value: SpendEntity; label: string }[] = [
  { value: 'dataset', label: 'Dataset' },
  { value: 'column', label: 'Column' },
  { value: 'run', label: 'Run' },
];

/** A breakdown row's name: the dataset or column name when the dataset still exists. */
function entityName(
  by: SpendEntity,
  row: EntitySpend['rows'][number],
  datasets: ReadonlyMap<string, Dataset>,
): string {
  if (row.entityId === null)
    return by === 'dataset' ? 'No dataset (chat, tests…)' : `No ${by} (chat, tests…)`;
  const dataset = row.datasetId ? datasets.get(row.datasetId) : undefined;
  if (by === 'dataset') return dataset?.name ?? `Deleted dataset ${row.entityId.slice(0, 8)}`;
  if (by === 'column') {
    const column = dataset?.columns.find((candidate) => candidate.id === row.entityId);
    return column
      ? `${column.name} (${dataset!.name})`
      : `Deleted column ${row.entityId.slice(0, 8)}${dataset ? ` (${dataset.name})` : ''}`;
  }
  return `Run ${row.entityId.slice(0, 8)}${dataset ? ` (${dataset.name})` : ''}`;
}

const today = () => new Date().toISOString().slice(0, 10);

const RANGES = ['7d', '30d', '90d', '365d'] as const;

/** /projects/:projectId/spend — cost per day by model, and a table by feature. */
export function SpendPage() {
  const { projectId } = useParams({ strict: false }) as { projectId: string };
  const [since, setSince] = useState<(typeof RANGES)[number]>('30d');
  const byDay = useQuery({
    queryKey: ['llm', projectId, 'spend', since, 'day,model'],
    queryFn: () => llmApi.spend(projectId, { since, groupBy: 'day,model' }),
  });
  const byFeature = useQuery({
    queryKey: ['llm', projectId, 'spend', since, 'feature'],
    queryFn: () => llmApi.spend(projectId, { since, groupBy: 'feature' }),
  });
  const [by, setBy] = useState<SpendEntity>('dataset');
  const byEntity = useQuery({
    queryKey: ['llm', projectId, 'spend', since, 'entity', by],
    queryFn: () => llmApi.spendByEntity(projectId, { since, by }),
  });
  const datasets = useQuery({
    queryKey: ['datasets', projectId, 'with-deleted'],
    queryFn: async () => {
      const [live, deleted] = await Promise.all([
        sheetApi.list(projectId),
        sheetApi.list(projectId, true),
      ]);
      return [...live.items, ...deleted.items];
    },
  });
  const datasetById = useMemo(
    () => new Map((datasets.data ?? []).map((dataset) => [dataset.id, dataset])),
    [datasets.data],
  );
  const total = byFeature.data?.total;

  return (
    <section className="page">
      <div className="row">
        <h1>Spend</h1>
        <span className="spacer" />
        <label>
          <span className="visually-hidden">Period</span>
          <select
            value={since}
            onChange={(event) => setSince(event.target.value as (typeof RANGES)[number])}
          >
            {RANGES.map((range) => (
              <option key={range} value={range}>
                Last {range.slice(0, -1)} days
              </option>
            ))}
          </select>
        </label>
      </div>
      {total && (
        <p className="spend-total" data-testid="spend-total">
          <strong>{formatSpend(total.costNano, total.unpricedAttempts)}</strong> over{' '}
          {formatInteger(total.calls)} calls
          {total.savedNano ? ` · ${formatNanoUsd(total.savedNano)} saved by the cache` : ''}
          {total.unpricedAttempts
            ? ` · ${formatInteger(total.unpricedAttempts)} attempts without a known price (set one in Prices)`
            : ''}
        </p>
      )}
      <FormError error={byDay.error ?? byFeature.error ?? byEntity.error} />
      <h2>Cost per day by model</h2>
      {byDay.data && byDay.data.rows.length > 0 ? (
        <SpendChart
          rows={byDay.data.rows}
          first={byDay.data.since}
          last={byDay.data.until ?? today()}
        />
      ) : (
        <p className="muted">No calls in this period.</p>
      )}
      <div className="row">
        <h2>By {by}</h2>
        <span className="spacer" />
        <fieldset className="segmented">
          <legend className="visually-hidden">Break down by</legend>
          {ENTITIES.map((entity) => (
            <label key={entity.value}>
              <input
                type="radio"
                name="spend-by"
                value={entity.value}
                checked={by === entity.value}
                onChange={() => setBy(entity.value)}
              />
              {entity.label}
            </label>
          ))}
        </fieldset>
      </div>
      <div className="table-scroll">
        <table className="data-table" data-testid="spend-by-entity">
          <thead>
            <tr>
              <th scope="col">{ENTITIES.find((entity) => entity.value === by)!.label}</th>
              <th scope="col" className="number">
                Calls
              </th>
              <th scope="col" className="number">
                Errors
              </th>
              <th scope="col" className="number">
                Cache hits
              </th>
              <th scope="col" className="number">
                Cost
              </th>
            </tr>
          </thead>
          <tbody>
            {byEntity.data?.rows.map((row) => (
              <tr key={row.entityId ?? 'none'}>
                <td>{entityName(by, row, datasetById)}</td>
                <td className="number">{formatInteger(row.calls)}</td>
                <td className="number">{formatInteger(row.errors)}</td>
                <td className="number">{formatInteger(row.cacheHits)}</td>
                <td className="number">{formatSpend(row.costNano, row.unpricedAttempts)}</td>
              </tr>
            ))}
            {byEntity.data?.rows.length === 0 && (
              <tr>
                <td colSpan={5} className="muted">
                  No calls in this period.
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
      <h2>By feature</h2>
      <div className="table-scroll">
        <table className="data-table">
          <thead>
            <tr>
              <th scope="col">Feature</th>
              <th scope="col" className="number">
                Calls
              </th>
              <th scope="col" className="number">
                Errors
              </th>
              <th scope="col" className="number">
                Input tokens
              </th>
              <th scope="col" className="number">
                Output tokens
              </th>
              <th scope="col" className="number">
                Cache hits
              </th>
              <th scope="col" className="number">
                Cost
              </th>
            </tr>
          </thead>
          <tbody>
            {byFeature.data?.rows.map((row) => (
              <tr key={row.feature ?? 'none'}>
                <td>{row.feature ?? '—'}</td>
                <td className="number">{formatInteger(row.calls)}</td>
                <td className="number">{formatInteger(row.errors)}</td>
                <td className="number">
                  {formatInteger(
                    row.uncachedInputTokens + row.cacheReadTokens + row.cacheWriteTokens,
                  )}
                </td>
                <td className="number">{formatInteger(row.outputTokens)}</td>
                <td className="number">{formatInteger(row.cacheHits)}</td>
                <td className="number">{formatSpend(row.costNano, row.unpricedAttempts)}</td>
              </tr>
            ))}
            {byFeature.data?.rows.length === 0 && (
              <tr>
                <td colSpan={7} className="muted">
                  No calls in this period.
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
    </section>
  );
}
