import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { Link, useParams } from '@tanstack/react-router';
import { useMemo, useState } from 'react';
import { FormError } from '../ui/form-error.tsx';
import { formatDateTime, formatInteger } from '../ui/format.ts';
import { type BreakdownBy, type MonitorSession, monitorApi } from './monitor-api.ts';
import { MonitorChart } from './monitor-chart.tsx';
import { ExportButtons } from './monitor-export-buttons.tsx';
import { flatUsage, formatUsd, millis, percent, usageColumns } from './monitor-format.ts';
import { MonitorTable } from './monitor-table.tsx';
import { MonitorWatchPanel } from './monitor-watch-panel.tsx';

const timeZone = Intl.DateTimeFormat().resolvedOptions().timeZone;

type SortKey = 'startedAt' | 'output' | 'input' | 'cost';
type OwnCallsBy = 'feature' | 'model' | 'dataset';
const OWN_CALLS_LABELS: Record<OwnCallsBy, string> = {
  feature: 'Feature',
  model: 'Model',
  dataset: 'Dataset',
};

/** /projects/:projectId/monitor — tokens and cost of imported coding-agent logs. */
export function MonitorPage() {
  const { projectId } = useParams({ strict: false }) as { projectId: string };
  const sessions = useQuery({
    queryKey: ['monitor', projectId, 'sessions'],
    queryFn: () => monitorApi.sessions(projectId),
  });
  const daily = useQuery({
    queryKey: ['monitor', projectId, 'daily', timeZone],
    queryFn: () => monitorApi.daily(projectId, timeZone),
  });
  const models = useQuery({
    queryKey: ['monitor', projectId, 'models'],
    queryFn: () => monitorApi.models(projectId),
  });
  const [breakdownBy, setBreakdownBy] = useState<BreakdownBy>('branch');
  const breakdown = useQuery({
    queryKey: ['monitor', projectId, 'breakdown', breakdownBy],
    queryFn: () => monitorApi.breakdown(projectId, breakdownBy),
  });
  const tools = useQuery({
    queryKey: ['monitor', projectId, 'tools'],
    queryFn: () => monitorApi.tools(projectId),
  });
  const [ownCallsBy, setOwnCallsBy] = useState<OwnCallsBy>('feature');
  const ownCalls = useQuery({
    queryKey: ['monitor', projectId, 'own-calls', ownCallsBy],
    queryFn: () => monitorApi.ownCalls(projectId, ownCallsBy),
    // The table (and its selector) stays while another grouping loads.
    placeholderData: keepPreviousData,
  });
  const budgets = useQuery({
    queryKey: ['monitor', projectId, 'budgets'],
    queryFn: () => monitorApi.budgets(projectId),
  });
  const [filter, setFilter] = useState('');
  const [sort, setSort] = useState<SortKey>('startedAt');

  const shown = useMemo(() => {
    const needle = filter.trim().toLowerCase();
    const rows = (sessions.data?.items ?? []).filter(
      (row) =>
        !needle ||
        [row.sessionId, row.agentId, row.agentType, row.title, row.source].some((value) =>
          value?.toLowerCase().includes(needle),
        ),
    );
    const key = (row: MonitorSession): number =>
      sort === 'startedAt'
        ? -(row.startedAt ? Date.parse(row.startedAt) : 0)
        : sort === 'cost'
          ? -(row.costUsd ?? -1)
          : -row.tokens[sort];
    return [...rows].sort((a, b) => key(a) - key(b));
  }, [sessions.data, filter, sort]);

  const loading = sessions.isPending || daily.isPending || models.isPending;
  const empty = !loading && sessions.data?.items.length === 0;
  const sortBy = (key: SortKey) => ({ active: sort === key, onSort: () => setSort(key) });

  return (
    <section className="page">
      <div className="row">
        <h1>Monitor</h1>
      </div>
      <MonitorWatchPanel projectId={projectId} />
      <FormError
        error={
          sessions.error ??
          daily.error ??
          models.error ??
          breakdown.error ??
          tools.error ??
          ownCalls.error
        }
      />
      {loading && <p className="muted">Loading…</p>}
      {empty && (
        <p className="muted" data-testid="monitor-empty">
          No coding-agent logs imported yet. Import Claude Code or OpenCode logs with{' '}
          <code>braincells monitor import PATH --project {projectId}</code>, or through the API from
          a folder an administrator allowed (BRAINCELLS_MONITOR_ROOTS).
        </p>
      )}
      {daily.data && daily.data.items.length > 0 && (
        <>
          <div className="row">
            <h2>Tokens per day ({daily.data.timezone})</h2>
            <span className="spacer" />
            <ExportButtons
              name="monitor-daily"
              rows={daily.data.items}
              flat={() =>
                daily.data.items.map((row) => ({
                  day: row.day,
                  sessions: row.sessions,
                  ...flatUsage(row),
                }))
              }
            />
          </div>
          <MonitorChart
            label="Tokens per day by bucket"
            points={daily.data.items.map((row) => ({
              at: Date.parse(`${row.day}T00:00:00Z`) / 1000,
              tokens: row.tokens,
            }))}
          />
        </>
      )}
      {models.data && models.data.items.length > 0 && (
        <>
          <div className="row">
            <h2>By model</h2>
            <span className="spacer" />
            <ExportButtons
              name="monitor-models"
              rows={models.data.items}
              flat={() =>
                models.data.items.map((row) => ({
                  source: row.source,
                  provider: row.provider,
                  model: row.model,
                  ...flatUsage(row),
                }))
              }
            />
          </div>
          <MonitorTable
            testId="monitor-models"
            rows={models.data.items}
            rowKey={(row) => `${row.source}/${row.provider}/${row.model}`}
            columns={[
              { label: 'Model', cell: (row) => row.model ?? '—' },
              { label: 'Source', cell: (row) => row.source },
              ...usageColumns,
            ]}
          />
        </>
      )}
      {breakdown.data && breakdown.data.items.length > 0 && (
        <>
          <div className="row">
            <h2>By {breakdownBy === 'project' ? 'project folder' : breakdownBy}</h2>
            <label>
              Group by{' '}
              <select
                aria-label="Group usage by"
                value={breakdownBy}
                onChange={(event) => setBreakdownBy(event.target.value as BreakdownBy)}
              >
                <option value="branch">Git branch</option>
                <option value="project">Project folder</option>
                <option value="provider">Provider</option>
              </select>
            </label>
            <span className="spacer" />
            <ExportButtons
              name={`monitor-by-${breakdownBy}`}
              rows={breakdown.data.items}
              flat={() =>
                breakdown.data.items.map((row) => ({
                  [breakdownBy]: row.key,
                  sessions: row.sessions,
                  ...flatUsage(row),
                }))
              }
            />
          </div>
          <MonitorTable
            testId="monitor-breakdown"
            rows={breakdown.data.items}
            rowKey={(row) => row.key ?? ''}
            columns={[
              {
                label:
                  breakdownBy === 'project'
                    ? 'Folder'
                    : breakdownBy === 'branch'
                      ? 'Branch'
                      : 'Provider',
                cell: (row) => row.key ?? <span className="muted">not recorded</span>,
              },
              { label: 'Sessions', numeric: true, cell: (row) => formatInteger(row.sessions) },
              ...usageColumns,
            ]}
          />
        </>
      )}
      {tools.data && tools.data.items.length > 0 && (
        <>
          <div className="row">
            <h2>Tools</h2>
            <span className="spacer" />
            <ExportButtons
              name="monitor-tools"
              rows={tools.data.items}
              flat={() =>
                tools.data.items.map((row) => ({
                  tool: row.toolName,
                  calls: row.calls,
                  failures: row.failures,
                  failureRate: row.failureRate,
                  unfinished: row.unfinished,
                  durationP50Ms: row.durationP50Ms,
                  durationP95Ms: row.durationP95Ms,
                  topError: row.topErrors[0]?.error ?? null,
                }))
              }
            />
          </div>
          <MonitorTable
            testId="monitor-tools"
            rows={tools.data.items}
            rowKey={(row) => row.toolName}
            columns={[
              { label: 'Tool', cell: (row) => row.toolName },
              { label: 'Calls', numeric: true, cell: (row) => formatInteger(row.calls) },
              {
                label: 'Failed',
                numeric: true,
                cell: (row) => `${formatInteger(row.failures)} (${percent(row.failureRate)})`,
              },
              { label: 'p50', numeric: true, cell: (row) => millis(row.durationP50Ms) },
              { label: 'p95', numeric: true, cell: (row) => millis(row.durationP95Ms) },
              {
                label: 'Top error',
                title: (row) => row.topErrors[0]?.error,
                cell: (row) =>
                  row.topErrors[0]
                    ? `${row.topErrors[0].error.slice(0, 80)} (×${row.topErrors[0].count})`
                    : '—',
              },
            ]}
          />
        </>
      )}
      {ownCalls.data && (ownCalls.data.items.length > 0 || ownCallsBy !== 'feature') && (
        <>
          <div className="row">
            <h2>Our own LLM calls by {ownCallsBy}</h2>
            <label>
              Group by{' '}
              <select
                aria-label="Group our own calls by"
                value={ownCallsBy}
                onChange={(event) => setOwnCallsBy(event.target.value as OwnCallsBy)}
              >
                <option value="feature">Feature</option>
                <option value="model">Model</option>
                <option value="dataset">Dataset</option>
              </select>
            </label>
            <span className="spacer" />
            <ExportButtons
              name={`monitor-own-calls-by-${ownCallsBy}`}
              rows={ownCalls.data.items}
              flat={() =>
                ownCalls.data.items.map((row) => ({
                  [ownCallsBy]: row.key,
                  calls: row.calls,
                  attempts: row.attempts,
                  errorRate: row.errorRate,
                  cacheHitRate: row.cacheHitRate,
                  latencyP50Ms: row.latencyP50Ms,
                  latencyP95Ms: row.latencyP95Ms,
                  inputTokens: row.inputTokens,
                  outputTokens: row.outputTokens,
                  costUsd: row.costUsd,
                  unpricedAttempts: row.unpricedAttempts,
                }))
              }
            />
          </div>
          <MonitorTable
            testId="monitor-own-calls"
            rows={ownCalls.data.items}
            rowKey={(row) => row.key ?? ''}
            columns={[
              {
                label: OWN_CALLS_LABELS[ownCallsBy],
                cell: (row) => row.key ?? <span className="muted">none</span>,
              },
              { label: 'Calls', numeric: true, cell: (row) => formatInteger(row.calls) },
              { label: 'Errors', numeric: true, cell: (row) => percent(row.errorRate) },
              { label: 'Cache hits', numeric: true, cell: (row) => percent(row.cacheHitRate) },
              { label: 'p50', numeric: true, cell: (row) => millis(row.latencyP50Ms) },
              { label: 'p95', numeric: true, cell: (row) => millis(row.latencyP95Ms) },
              {
                label: 'Cost',
                numeric: true,
                title: (row) =>
                  row.unpricedAttempts
                    ? `${row.unpricedAttempts} attempts of unknown price`
                    : undefined,
                cell: (row) =>
                  formatUsd(row.costUsd, row.unpricedAttempts ? 'partial' : 'computed'),
              },
            ]}
          />
        </>
      )}
      {budgets.data && budgets.data.items.length > 0 && (
        <>
          <div className="row">
            <h2>Budgets of our own calls</h2>
            <span className="spacer" />
            <ExportButtons
              name="monitor-budgets"
              rows={budgets.data.items}
              flat={() => budgets.data.items.map((row) => ({ ...row }))}
            />
          </div>
          <MonitorTable
            testId="monitor-budgets"
            rows={budgets.data.items}
            rowKey={(row) => row.id}
            columns={[
              {
                label: 'Budget',
                cell: (row) => `${row.scope === 'user' ? 'user' : 'project'} · ${row.period}`,
              },
              {
                label: 'Limit',
                numeric: true,
                cell: (row) =>
                  row.hardLimitUsd !== null
                    ? formatUsd(row.hardLimitUsd, 'computed')
                    : `soft ${formatUsd(row.softLimitUsd, 'computed')}`,
              },
              {
                label: 'Spent',
                numeric: true,
                cell: (row) =>
                  `${formatUsd(row.spentUsd, 'computed')}${row.usedShare === null ? '' : ` (${percent(row.usedShare)})`}`,
              },
              {
                label: 'Per hour',
                numeric: true,
                cell: (row) =>
                  row.burnUsdPerHour === null ? '—' : formatUsd(row.burnUsdPerHour, 'computed'),
              },
              {
                label: 'At period end',
                numeric: true,
                cell: (row) =>
                  row.projectedUsd === null ? '—' : formatUsd(row.projectedUsd, 'computed'),
              },
              {
                label: 'Limit reached',
                cell: (row) => (row.exhaustsAt ? formatDateTime(row.exhaustsAt) : '—'),
              },
            ]}
          />
        </>
      )}
      {sessions.data && sessions.data.items.length > 0 && (
        <>
          <div className="row">
            <h2>Sessions and sub-agents</h2>
            <span className="spacer" />
            <label>
              <span className="visually-hidden">Filter sessions</span>
              <input
                type="search"
                placeholder="Filter"
                value={filter}
                onChange={(event) => setFilter(event.target.value)}
              />
            </label>
            <ExportButtons
              name="monitor-sessions"
              rows={shown}
              flat={() =>
                shown.map((row) => ({
                  source: row.source,
                  sessionId: row.sessionId,
                  agentId: row.agentId,
                  agentType: row.agentType,
                  parentSessionId: row.parentSessionId,
                  records: row.records,
                  ...flatUsage(row),
                  startedAt: row.startedAt,
                }))
              }
            />
          </div>
          <MonitorTable
            testId="monitor-sessions"
            rows={shown}
            rowKey={(row) => row.sessionKey}
            columns={[
              {
                label: 'Session',
                title: (row) => row.title ?? undefined,
                cell: (row) => (
                  <Link
                    to="/projects/$projectId/monitor/sessions/$sessionKey"
                    params={{ projectId, sessionKey: row.sessionKey }}
                  >
                    {`${row.agentId || row.parentSessionId ? '↳ ' : ''}${row.sessionId.slice(0, 18)}`}
                  </Link>
                ),
              },
              {
                label: 'Agent',
                cell: (row) => row.agentType ?? (row.agentId ? row.agentId : '—'),
              },
              {
                label: 'Started',
                numeric: true,
                sort: sortBy('startedAt'),
                cell: (row) => formatDateTime(row.startedAt),
              },
              {
                label: 'Input',
                numeric: true,
                sort: sortBy('input'),
                cell: (row) => formatInteger(row.tokens.input),
              },
              {
                label: 'Output',
                numeric: true,
                sort: sortBy('output'),
                cell: (row) => formatInteger(row.tokens.output),
              },
              {
                label: 'Cache read',
                numeric: true,
                cell: (row) => formatInteger(row.tokens.cacheRead),
              },
              {
                label: 'Cache write',
                numeric: true,
                cell: (row) => formatInteger(row.tokens.cacheWrite),
              },
              {
                label: 'Cost',
                numeric: true,
                sort: sortBy('cost'),
                cell: (row) => formatUsd(row.costUsd, row.costBasis),
              },
            ]}
          />
        </>
      )}
    </section>
  );
}
