import { useQuery } from '@tanstack/react-query';
import { useParams } from '@tanstack/react-router';
import { useMemo, useState } from 'react';
import { FormError } from '../ui/form-error.tsx';
import { formatDateTime, formatInteger } from '../ui/format.ts';
import {
  type BreakdownBy,
  type CostBasis,
  type MonitorSession,
  monitorApi,
  type Tokens,
} from './monitor-api.ts';
import { MonitorChart } from './monitor-chart.tsx';
import { download, type Flat, toCsv } from './monitor-export.ts';

const timeZone = Intl.DateTimeFormat().resolvedOptions().timeZone;

function formatUsd(usd: number | null, basis: CostBasis): string {
  if (usd === null) return basis === null ? '—' : 'unknown';
  const text = `$${usd.toFixed(usd !== 0 && Math.abs(usd) < 0.01 ? 6 : 2)}`;
  return basis === 'partial' ? `≥ ${text}` : text;
}

const flatTokens = (tokens: Tokens) => ({
  input: tokens.input,
  output: tokens.output,
  reasoning: tokens.reasoning,
  cacheRead: tokens.cacheRead,
  cacheWrite: tokens.cacheWrite,
});

const percent = (rate: number | null) => (rate === null ? '—' : `${(rate * 100).toFixed(1)}%`);
const millis = (ms: number | null) =>
  ms === null ? '—' : ms >= 1_000 ? `${(ms / 1_000).toFixed(1)} s` : `${Math.round(ms)} ms`;

type SortKey = 'startedAt' | 'output' | 'input' | 'cost';

function ExportButtons({
  name,
  rows,
  flat,
}: {
  name: string;
  rows: readonly unknown[];
  flat: () => Flat[];
}) {
  return (
    <span className="row">
      <button type="button" onClick={() => download(`${name}.csv`, toCsv(flat()), 'text/csv')}>
        CSV
      </button>
      <button
        type="button"
        onClick={() =>
          download(`${name}.json`, `${JSON.stringify(rows, null, 2)}\n`, 'application/json')
        }
      >
        JSON
      </button>
    </span>
  );
}

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
  const ownCalls = useQuery({
    queryKey: ['monitor', projectId, 'own-calls', 'feature'],
    queryFn: () => monitorApi.ownCalls(projectId, 'feature'),
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
  const sortHeader = (label: string, key: SortKey) => (
    <th scope="col" className="number" aria-sort={sort === key ? 'descending' : 'none'}>
      <button type="button" className="link-button" onClick={() => setSort(key)}>
        {label}
      </button>
    </th>
  );

  return (
    <section className="page">
      <div className="row">
        <h1>Monitor</h1>
      </div>
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
                  usageEvents: row.usageEvents,
                  ...flatTokens(row.tokens),
                  costUsd: row.costUsd,
                  costBasis: row.costBasis,
                  unpricedEvents: row.unpricedEvents,
                }))
              }
            />
          </div>
          <MonitorChart days={daily.data.items} />
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
                  usageEvents: row.usageEvents,
                  ...flatTokens(row.tokens),
                  costUsd: row.costUsd,
                  costBasis: row.costBasis,
                  unpricedEvents: row.unpricedEvents,
                }))
              }
            />
          </div>
          <table className="data-table" data-testid="monitor-models">
            <thead>
              <tr>
                <th scope="col">Model</th>
                <th scope="col">Source</th>
                <th scope="col" className="number">
                  Calls
                </th>
                <th scope="col" className="number">
                  Input
                </th>
                <th scope="col" className="number">
                  Output
                </th>
                <th scope="col" className="number">
                  Cache read
                </th>
                <th scope="col" className="number">
                  Cache write
                </th>
                <th scope="col" className="number">
                  Cost
                </th>
              </tr>
            </thead>
            <tbody>
              {models.data.items.map((row) => (
                <tr key={`${row.source}/${row.provider}/${row.model}`}>
                  <td>{row.model ?? '—'}</td>
                  <td>{row.source}</td>
                  <td className="number">{formatInteger(row.usageEvents)}</td>
                  <td className="number">{formatInteger(row.tokens.input)}</td>
                  <td className="number">{formatInteger(row.tokens.output)}</td>
                  <td className="number">{formatInteger(row.tokens.cacheRead)}</td>
                  <td className="number">{formatInteger(row.tokens.cacheWrite)}</td>
                  <td
                    className="number"
                    title={
                      row.unpricedEvents
                        ? `${row.unpricedEvents} calls of unknown price`
                        : undefined
                    }
                  >
                    {formatUsd(row.costUsd, row.costBasis)}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
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
                  usageEvents: row.usageEvents,
                  ...flatTokens(row.tokens),
                  costUsd: row.costUsd,
                  costBasis: row.costBasis,
                  unpricedEvents: row.unpricedEvents,
                }))
              }
            />
          </div>
          <table className="data-table" data-testid="monitor-breakdown">
            <thead>
              <tr>
                <th scope="col">
                  {breakdownBy === 'project'
                    ? 'Folder'
                    : breakdownBy === 'branch'
                      ? 'Branch'
                      : 'Provider'}
                </th>
                <th scope="col" className="number">
                  Sessions
                </th>
                <th scope="col" className="number">
                  Calls
                </th>
                <th scope="col" className="number">
                  Input
                </th>
                <th scope="col" className="number">
                  Output
                </th>
                <th scope="col" className="number">
                  Cost
                </th>
              </tr>
            </thead>
            <tbody>
              {breakdown.data.items.map((row) => (
                <tr key={row.key ?? ''}>
                  <td>{row.key ?? <span className="muted">not recorded</span>}</td>
                  <td className="number">{formatInteger(row.sessions)}</td>
                  <td className="number">{formatInteger(row.usageEvents)}</td>
                  <td className="number">{formatInteger(row.tokens.input)}</td>
                  <td className="number">{formatInteger(row.tokens.output)}</td>
                  <td
                    className="number"
                    title={
                      row.unpricedEvents
                        ? `${row.unpricedEvents} calls of unknown price`
                        : undefined
                    }
                  >
                    {formatUsd(row.costUsd, row.costBasis)}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
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
          <table className="data-table" data-testid="monitor-tools">
            <thead>
              <tr>
                <th scope="col">Tool</th>
                <th scope="col" className="number">
                  Calls
                </th>
                <th scope="col" className="number">
                  Failed
                </th>
                <th scope="col" className="number">
                  p50
                </th>
                <th scope="col" className="number">
                  p95
                </th>
                <th scope="col">Top error</th>
              </tr>
            </thead>
            <tbody>
              {tools.data.items.map((row) => (
                <tr key={row.toolName}>
                  <td>{row.toolName}</td>
                  <td className="number">{formatInteger(row.calls)}</td>
                  <td className="number">
                    {formatInteger(row.failures)} ({percent(row.failureRate)})
                  </td>
                  <td className="number">{millis(row.durationP50Ms)}</td>
                  <td className="number">{millis(row.durationP95Ms)}</td>
                  <td title={row.topErrors[0]?.error}>
                    {row.topErrors[0]
                      ? `${row.topErrors[0].error.slice(0, 80)} (×${row.topErrors[0].count})`
                      : '—'}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
      {ownCalls.data && ownCalls.data.items.length > 0 && (
        <>
          <div className="row">
            <h2>Our own LLM calls by feature</h2>
            <span className="spacer" />
            <ExportButtons
              name="monitor-own-calls"
              rows={ownCalls.data.items}
              flat={() =>
                ownCalls.data.items.map((row) => ({
                  feature: row.key,
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
          <table className="data-table" data-testid="monitor-own-calls">
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
                  Cache hits
                </th>
                <th scope="col" className="number">
                  p50
                </th>
                <th scope="col" className="number">
                  p95
                </th>
                <th scope="col" className="number">
                  Cost
                </th>
              </tr>
            </thead>
            <tbody>
              {ownCalls.data.items.map((row) => (
                <tr key={row.key ?? ''}>
                  <td>{row.key ?? '—'}</td>
                  <td className="number">{formatInteger(row.calls)}</td>
                  <td className="number">{percent(row.errorRate)}</td>
                  <td className="number">{percent(row.cacheHitRate)}</td>
                  <td className="number">{millis(row.latencyP50Ms)}</td>
                  <td className="number">{millis(row.latencyP95Ms)}</td>
                  <td
                    className="number"
                    title={
                      row.unpricedAttempts
                        ? `${row.unpricedAttempts} attempts of unknown price`
                        : undefined
                    }
                  >
                    {formatUsd(row.costUsd, row.unpricedAttempts ? 'partial' : 'computed')}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
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
                  ...flatTokens(row.tokens),
                  costUsd: row.costUsd,
                  costBasis: row.costBasis,
                  startedAt: row.startedAt,
                }))
              }
            />
          </div>
          <table className="data-table" data-testid="monitor-sessions">
            <thead>
              <tr>
                <th scope="col">Session</th>
                <th scope="col">Agent</th>
                {sortHeader('Started', 'startedAt')}
                {sortHeader('Input', 'input')}
                {sortHeader('Output', 'output')}
                <th scope="col" className="number">
                  Cache read
                </th>
                <th scope="col" className="number">
                  Cache write
                </th>
                {sortHeader('Cost', 'cost')}
              </tr>
            </thead>
            <tbody>
              {shown.map((row) => (
                <tr key={row.sessionKey}>
                  <td title={row.title ?? undefined}>
                    {row.agentId || row.parentSessionId ? '↳ ' : ''}
                    {row.sessionId.slice(0, 18)}
                  </td>
                  <td>{row.agentType ?? (row.agentId ? row.agentId : '—')}</td>
                  <td className="number">{formatDateTime(row.startedAt)}</td>
                  <td className="number">{formatInteger(row.tokens.input)}</td>
                  <td className="number">{formatInteger(row.tokens.output)}</td>
                  <td className="number">{formatInteger(row.tokens.cacheRead)}</td>
                  <td className="number">{formatInteger(row.tokens.cacheWrite)}</td>
                  <td className="number">{formatUsd(row.costUsd, row.costBasis)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}
