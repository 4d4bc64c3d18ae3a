import { useQuery } from '@tanstack/react-query';
import { useParams } from '@tanstack/react-router';
import { useMemo, useState } from 'react';
import { FormError } from '../ui/form-error.tsx';
import { formatDateTime, formatInteger } from '../ui/format.ts';
import { type CostBasis, type MonitorSession, monitorApi, type Tokens } from './monitor-api.ts';
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
      <FormError error={sessions.error ?? daily.error ?? models.error} />
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
