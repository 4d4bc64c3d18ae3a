import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import type { FormEvent } from 'react';
import { BUDGET_PERIODS, type BudgetPeriod, llmApi, usdToNano } from '../api/llm-api.ts';
import { FormError } from '../ui/form-error.tsx';
import { formatNanoUsd } from '../ui/format.ts';
import { useNotices } from '../ui/notices.tsx';

/** Budgets: a hard limit refuses calls (before spending), a soft limit warns. */
export function BudgetsPanel({ projectId }: { projectId: string }) {
  const queryClient = useQueryClient();
  const notices = useNotices();
  const key = ['llm', projectId, 'budgets'];
  const budgets = useQuery({ queryKey: key, queryFn: () => llmApi.budgets(projectId) });
  const refresh = () => queryClient.invalidateQueries({ queryKey: key });
  const create = useMutation({
    mutationFn: (form: FormData) => {
      const hard = String(form.get('hard') ?? '').trim();
      const soft = String(form.get('soft') ?? '').trim();
      return llmApi.createBudget(projectId, {
        period: String(form.get('period')) as BudgetPeriod,
        ...(hard ? { hardLimitNano: usdToNano(Number(hard)) } : {}),
        ...(soft ? { softLimitNano: usdToNano(Number(soft)) } : {}),
      });
    },
    onSuccess: refresh,
  });
  const remove = useMutation({
    mutationFn: (budgetId: string) => llmApi.deleteBudget(projectId, budgetId),
    onSuccess: refresh,
    onError: notices.error,
  });

  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    create.mutate(new FormData(event.currentTarget));
  };

  return (
    <div className="stack">
      <form className="inline-form" onSubmit={submit}>
        <label>
          Period
          <select name="period" defaultValue="month">
            {BUDGET_PERIODS.map((period) => (
              <option key={period} value={period}>
                {period === 'total' ? 'all time' : `per ${period}`}
              </option>
            ))}
          </select>
        </label>
        <label>
          Hard limit (USD)
          <input name="hard" type="number" min={0} step="any" />
        </label>
        <label>
          Soft limit (USD, warns)
          <input name="soft" type="number" min={0} step="any" />
        </label>
        <button type="submit" className="primary" disabled={create.isPending}>
          Add budget
        </button>
      </form>
      <FormError error={create.error ?? budgets.error} />
      <div className="table-scroll">
        <table className="data-table">
          <thead>
            <tr>
              <th scope="col">Scope</th>
              <th scope="col">Period</th>
              <th scope="col" className="number">
                Spent
              </th>
              <th scope="col" className="number">
                Reserved
              </th>
              <th scope="col" className="number">
                Soft limit
              </th>
              <th scope="col" className="number">
                Hard limit
              </th>
              <th scope="col">Used</th>
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {budgets.data?.items.map((budget) => {
              const limit = budget.hardLimitNano ?? budget.softLimitNano;
              const used = limit
                ? Math.min(100, ((budget.spentNano + budget.reservedNano) / limit) * 100)
                : undefined;
              return (
                <tr key={budget.id}>
                  <td>{budget.scope === 'project' ? 'Project' : 'One user'}</td>
                  <td>{budget.period}</td>
                  <td className="number">{formatNanoUsd(budget.spentNano)}</td>
                  <td className="number">{formatNanoUsd(budget.reservedNano)}</td>
                  <td className="number">{formatNanoUsd(budget.softLimitNano)}</td>
                  <td className="number">{formatNanoUsd(budget.hardLimitNano)}</td>
                  <td>
                    {used === undefined ? (
                      '—'
                    ) : (
                      <progress
                        max={100}
                        value={used}
                        aria-label={`${Math.round(used)}% of the limit used`}
                      />
                    )}
                  </td>
                  <td>
                    <button
                      type="button"
                      className="danger"
                      onClick={() => remove.mutate(budget.id)}
                    >
                      Remove
                    </button>
                  </td>
                </tr>
              );
            })}
            {budgets.data?.items.length === 0 && (
              <tr>
                <td colSpan={8} className="muted">
                  No budgets: spending is not limited.
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
    </div>
  );
}
