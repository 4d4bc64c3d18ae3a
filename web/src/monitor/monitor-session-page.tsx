import { useQuery } from '@tanstack/react-query';
import { Link, useParams } from '@tanstack/react-router';
import { useMemo } from 'react';
import { FormError } from '../ui/form-error.tsx';
import { formatDateTime, formatInteger } from '../ui/format.ts';
import {
  type MonitorAgentNode,
  type MonitorPart,
  type MonitorStep,
  monitorApi,
} from './monitor-api.ts';
import { MonitorChart } from './monitor-chart.tsx';
import { ExportButtons } from './monitor-export-buttons.tsx';
import { flatTokens, flatUsage, formatUsd, usageColumns } from './monitor-format.ts';
import { MonitorTable } from './monitor-table.tsx';

/** The agent trace as rows, parents before their children. */
function flattenTree(node: MonitorAgentNode): MonitorAgentNode[] {
  return [node, ...node.children.flatMap(flattenTree)];
}

/** What a transcript part says, in one line of text (rendered as text, never HTML). */
function partSummary(part: MonitorPart): string {
  if (part.toolName) {
    const status = part.toolStatus ? ` [${part.toolStatus}]` : '';
    return `${part.toolName}${status} ${part.toolInput ?? ''}`.trim();
  }
  return part.text ?? '';
}

/** A tool call with its outcome: OpenCode's part carries it, Claude Code's result block does. */
interface ToolCall {
  part: MonitorPart;
  status: string;
  error: string | null;
}

function toolCalls(parts: readonly MonitorPart[]): ToolCall[] {
  const results = new Map<string, MonitorPart>();
  for (const part of parts)
    if (part.type === 'tool_result' && part.callId) results.set(part.callId, part);
  return parts
    .filter((part) => part.toolName && (part.type === 'tool' || part.type === 'tool_use'))
    .map((part) => {
      const result = part.callId ? results.get(part.callId) : undefined;
      return {
        part,
        status: part.toolStatus ?? result?.toolStatus ?? 'no result',
        error: part.toolError ?? result?.toolError ?? null,
      };
    });
}

/** /projects/:projectId/monitor/sessions/:sessionKey — one session's trace, steps and transcript. */
export function MonitorSessionPage() {
  const { projectId, sessionKey } = useParams({ strict: false }) as {
    projectId: string;
    sessionKey: string;
  };
  const detail = useQuery({
    queryKey: ['monitor', projectId, 'session', sessionKey],
    queryFn: () => monitorApi.session(projectId, sessionKey),
  });
  const exchanges = useQuery({
    queryKey: ['monitor', projectId, 'session', sessionKey, 'exchanges'],
    queryFn: () => monitorApi.exchanges(projectId, sessionKey),
  });
  const data = detail.data;
  const trace = useMemo(() => (data ? flattenTree(data.tree) : []), [data]);
  const steps = data?.steps ?? [];
  const tools = useMemo(() => toolCalls(data?.parts ?? []), [data]);
  const transcript = useMemo(
    () => (data?.parts ?? []).filter((part) => part.text || part.toolName),
    [data],
  );
  const session = data?.session;

  return (
    <section className="page">
      <div className="row">
        <Link to="/projects/$projectId/monitor" params={{ projectId }}>
          ← Monitor
        </Link>
      </div>
      <FormError error={detail.error ?? exchanges.error} />
      {detail.isPending && <p className="muted">Loading…</p>}
      {session && (
        <>
          <h1 data-testid="monitor-session-title">
            {session.title ?? session.sessionId}
            {session.agentType ? ` · ${session.agentType}` : ''}
          </h1>
          <p className="muted">
            {session.source} · {formatDateTime(session.startedAt)} –{' '}
            {formatDateTime(session.endedAt)} · {formatInteger(session.usageEvents)} calls ·{' '}
            {formatUsd(session.costUsd, session.costBasis)} own,{' '}
            {formatUsd(
              data.tree.rollup.costUsd,
              data.tree.rollup.unpricedEvents > 0 ? 'partial' : session.costBasis,
            )}{' '}
            with its agents
          </p>

          <div className="row">
            <h2>Agent trace</h2>
            <span className="spacer" />
            <ExportButtons
              name="monitor-session-trace"
              rows={trace.map(({ children: _children, ...node }) => node)}
              flat={() =>
                trace.map((node) => ({
                  depth: node.depth,
                  sessionKey: node.session.sessionKey,
                  agentId: node.session.agentId,
                  agentType: node.session.agentType,
                  ...flatUsage(node.session),
                  rollupUsageEvents: node.rollup.usageEvents,
                  rollupOutput: node.rollup.tokens.output,
                  rollupCostUsd: node.rollup.costUsd,
                }))
              }
            />
          </div>
          <MonitorTable
            testId="monitor-session-trace"
            rows={trace}
            rowKey={(node) => node.session.sessionKey}
            columns={[
              {
                label: 'Agent',
                cell: (node) => (
                  <span>
                    {node.depth > 0 ? `${'\u00a0\u00a0'.repeat(node.depth - 1)}↳ ` : ''}
                    {node.session.sessionKey === sessionKey ? (
                      (node.session.agentType ?? node.session.agentKind)
                    ) : (
                      <Link
                        to="/projects/$projectId/monitor/sessions/$sessionKey"
                        params={{ projectId, sessionKey: node.session.sessionKey }}
                      >
                        {node.session.agentType ?? node.session.agentId ?? node.session.sessionId}
                      </Link>
                    )}
                  </span>
                ),
              },
              ...usageColumns.map((column) => ({
                ...column,
                cell: (node: MonitorAgentNode) => column.cell(node.session),
                title: (node: MonitorAgentNode) => column.title?.(node.session),
              })),
              {
                label: 'Output with agents',
                numeric: true,
                cell: (node) => formatInteger(node.rollup.tokens.output),
              },
              {
                label: 'Cost with agents',
                numeric: true,
                cell: (node) =>
                  formatUsd(
                    node.rollup.costUsd,
                    node.rollup.unpricedEvents > 0 ? 'partial' : node.session.costBasis,
                  ),
              },
            ]}
          />

          {steps.length > 0 && (
            <>
              <div className="row">
                <h2>Tokens per step</h2>
                <span className="spacer" />
                <ExportButtons
                  name="monitor-session-steps"
                  rows={steps}
                  flat={() =>
                    steps.map((step) => ({
                      at: step.at,
                      eventKey: step.eventKey,
                      provider: step.provider,
                      model: step.model,
                      ...flatTokens(step.tokens),
                      costUsd: step.costUsd,
                      costBasis: step.costBasis,
                    }))
                  }
                />
              </div>
              <MonitorChart
                label="Tokens per step by bucket"
                points={steps
                  .filter((step): step is MonitorStep & { at: string } => step.at !== null)
                  .map((step) => ({ at: Date.parse(step.at) / 1000, tokens: step.tokens }))}
              />
              <MonitorTable
                testId="monitor-session-steps"
                rows={steps}
                rowKey={(step) => step.eventKey}
                columns={[
                  { label: 'Time', cell: (step) => formatDateTime(step.at) },
                  { label: 'Model', cell: (step) => step.model ?? '—' },
                  { label: 'Input', numeric: true, cell: (s) => formatInteger(s.tokens.input) },
                  { label: 'Output', numeric: true, cell: (s) => formatInteger(s.tokens.output) },
                  {
                    label: 'Cache read',
                    numeric: true,
                    cell: (s) => formatInteger(s.tokens.cacheRead),
                  },
                  {
                    label: 'Cache write',
                    numeric: true,
                    cell: (s) => formatInteger(s.tokens.cacheWrite),
                  },
                  {
                    label: 'Cost',
                    numeric: true,
                    cell: (s) =>
                      formatUsd(s.costUsd, s.costBasis === 'unpriced' ? 'unpriced' : 'computed'),
                  },
                ]}
              />
            </>
          )}

          {tools.length > 0 && (
            <>
              <div className="row">
                <h2>Tool calls</h2>
                <span className="spacer" />
                <ExportButtons
                  name="monitor-session-tools"
                  rows={tools.map((call) => ({
                    ...call.part,
                    status: call.status,
                    error: call.error,
                  }))}
                  flat={() =>
                    tools.map(({ part, status, error }) => ({
                      at: part.createdAt,
                      tool: part.toolName,
                      callId: part.callId,
                      status,
                      input: part.toolInput,
                      error,
                    }))
                  }
                />
              </div>
              <MonitorTable
                testId="monitor-session-tools"
                rows={tools}
                rowKey={(call) => call.part.partId}
                columns={[
                  { label: 'Time', cell: (call) => formatDateTime(call.part.createdAt) },
                  { label: 'Tool', cell: (call) => call.part.toolName },
                  { label: 'Status', cell: (call) => call.status },
                  {
                    label: 'Input',
                    title: (call) => call.part.toolInput ?? undefined,
                    cell: (call) => (call.part.toolInput ?? '').slice(0, 120),
                  },
                  { label: 'Error', cell: (call) => call.error ?? '—' },
                ]}
              />
            </>
          )}

          {exchanges.data && exchanges.data.items.length > 0 && (
            <>
              <div className="row">
                <h2>Exchanges</h2>
                <span className="spacer" />
                <ExportButtons
                  name="monitor-session-exchanges"
                  rows={exchanges.data.items}
                  flat={() =>
                    exchanges.data.items.map((row) => ({
                      index: row.index,
                      at: row.at,
                      lastReplyAt: row.lastReplyAt,
                      prompt: row.prompt,
                      reply: row.reply,
                      toolCalls: row.toolCalls,
                      ...flatUsage(row),
                    }))
                  }
                />
              </div>
              <MonitorTable
                testId="monitor-session-exchanges"
                rows={exchanges.data.items}
                rowKey={(row) => row.messageId}
                columns={[
                  { label: 'Time', cell: (row) => formatDateTime(row.at) },
                  {
                    label: 'Prompt',
                    cell: (row) => <span className="truncate">{row.prompt}</span>,
                  },
                  {
                    label: 'Last reply',
                    cell: (row) => <span className="truncate">{row.reply ?? '—'}</span>,
                  },
                  { label: 'Tools', numeric: true, cell: (row) => formatInteger(row.toolCalls) },
                  ...usageColumns,
                ]}
              />
            </>
          )}

          <div className="row">
            <h2>Timeline and transcript</h2>
            <span className="spacer" />
            <ExportButtons
              name="monitor-session-transcript"
              rows={transcript}
              flat={() =>
                transcript.map((part) => ({
                  at: part.createdAt,
                  role: part.role,
                  type: part.type,
                  text: partSummary(part),
                  sourceRef: part.sourceRef,
                }))
              }
            />
          </div>
          {transcript.length === 0 ? (
            <p className="muted">No text or tool calls recorded for this session.</p>
          ) : (
            <MonitorTable
              testId="monitor-session-transcript"
              rows={transcript}
              rowKey={(part) => part.partId}
              columns={[
                { label: 'Time', cell: (part) => formatDateTime(part.createdAt) },
                { label: 'Role', cell: (part) => part.role ?? '—' },
                { label: 'Type', cell: (part) => part.type },
                {
                  label: 'Content',
                  cell: (part) => partSummary(part),
                },
              ]}
            />
          )}
        </>
      )}
    </section>
  );
}
