import { useQuery } from '@tanstack/react-query';
import { useParams } from '@tanstack/react-router';
import { useState } from 'react';
import { llmApi } from '../api/llm-api.ts';
import { FormError } from '../ui/form-error.tsx';
import { formatInteger, formatNanoUsd } from '../ui/format.ts';
import { SpendChart } from './spend-chart.tsx';

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
          <strong>{formatNanoUsd(total.costNano)}</strong> over {formatInteger(total.calls)} calls
          {total.savedNano ? ` · ${formatNanoUsd(total.savedNano)} saved by the cache` : ''}
          {total.unpricedAttempts
            ? ` · ${formatInteger(total.unpricedAttempts)} attempts without a known price (not counted)`
            : ''}
        </p>
      )}
      <FormError error={byDay.error ?? byFeature.error} />
      <h2>Cost per day by model</h2>
      {byDay.data && byDay.data.rows.length > 0 ? (
        <SpendChart rows={byDay.data.rows} />
      ) : (
        <p className="muted">No calls in this period.</p>
      )}
      <h2>By feature</h2>
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
              <td className="number">{formatNanoUsd(row.costNano)}</td>
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
    </section>
  );
}
