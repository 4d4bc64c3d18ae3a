import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useParams } from '@tanstack/react-router';
import { type FormEvent, useState } from 'react';
import { type ModelChoice, ModelPicker } from '../ai/model-picker.tsx';
import { FormError } from '../ui/form-error.tsx';
import { formatInteger, formatNanoUsd } from '../ui/format.ts';
import { useNotices } from '../ui/notices.tsx';
import {
  AGENT_TOOLS,
  type Agent,
  type AgentFields,
  type AgentTool,
  agentsApi,
} from './chat-agents-api.ts';
import { ProjectSummarizer } from './project-summarizer.tsx';
import './chat.css';

const TOOL_LABELS: Record<AgentTool, string> = {
  query_sheet: 'Query a sheet (read-only SQL)',
  read_rows: 'Read rows of a dataset',
  web_search: 'Web search',
  list_datasets: "List the project's datasets",
};

/**
 * Agents of a project (docs/chat.md "Agents"): instructions, model, parameters and tools.
 * Saving an edit adds a version (the list below the form); replies record the version they
 * ran with, so an edit never changes a reply that is running.
 */
export function AgentsPage() {
  const { projectId } = useParams({ strict: false }) as { projectId: string };
  const queryClient = useQueryClient();
  const notices = useNotices();
  const [editing, setEditing] = useState<Agent | 'new' | undefined>(undefined);
  const listKey = ['chat', projectId, 'agents'];
  const agents = useQuery({ queryKey: listKey, queryFn: () => agentsApi.list(projectId) });
  const remove = useMutation({
    mutationFn: (agentId: string) => agentsApi.remove(projectId, agentId),
    onSuccess: () => {
      setEditing(undefined);
      void queryClient.invalidateQueries({ queryKey: listKey });
    },
    onError: (error) => notices.error(error),
  });
  return (
    <section className="page agents-page">
      <header className="chat-thread-header">
        <h1>Agents</h1>
        <button type="button" className="button primary" onClick={() => setEditing('new')}>
          New agent
        </button>
      </header>
      <ProjectSummarizer projectId={projectId} />
      <FormError error={agents.error} />
      <ul className="agent-list" aria-label="Agents">
        {(agents.data?.items ?? []).map((agent) => (
          <li key={agent.id} className="agent-item">
            <button type="button" className="chat-thread-link" onClick={() => setEditing(agent)}>
              {agent.name}
            </button>
            <span className="muted">
              {' '}
              v{agent.version} · {agent.model} ·{' '}
              {agent.tools.length ? agent.tools.join(', ') : 'no tools'} ·{' '}
              <span data-testid="agent-totals">
                {formatInteger(agent.totals.calls)} calls,{' '}
                {formatInteger(agent.totals.inputTokens + agent.totals.outputTokens)} tokens,{' '}
                {formatNanoUsd(agent.totals.costNano)}
                {agent.totals.unpricedCalls ? ` (+${agent.totals.unpricedCalls} unpriced)` : ''}
              </span>
            </span>
          </li>
        ))}
      </ul>
      {editing && (
        <AgentEditor
          key={editing === 'new' ? 'new' : `${editing.id}-${editing.version}`}
          projectId={projectId}
          agent={editing === 'new' ? undefined : editing}
          onSaved={(agent) => {
            setEditing(agent);
            void queryClient.invalidateQueries({ queryKey: listKey });
            void queryClient.invalidateQueries({
              queryKey: ['chat', projectId, 'agent-versions', agent.id],
            });
          }}
          onDelete={(agent) => remove.mutate(agent.id)}
        />
      )}
    </section>
  );
}

function AgentEditor({
  projectId,
  agent,
  onSaved,
  onDelete,
}: {
  projectId: string;
  agent: Agent | undefined;
  onSaved(agent: Agent): void;
  onDelete(agent: Agent): void;
}) {
  const [name, setName] = useState(agent?.name ?? '');
  const [instructions, setInstructions] = useState(agent?.instructions ?? '');
  const [choice, setChoice] = useState<ModelChoice>({
    provider: agent?.provider ?? undefined,
    model: agent?.model ?? '',
  });
  const [tools, setTools] = useState<AgentTool[]>(agent?.tools ?? []);
  const [maxToolSteps, setMaxToolSteps] = useState(agent?.maxToolSteps ?? 4);
  const [summaryModel, setSummaryModel] = useState(agent?.summaryModel ?? '');
  const [temperature, setTemperature] = useState(
    agent?.parameters.temperature === undefined ? '' : String(agent.parameters.temperature),
  );
  const save = useMutation({
    mutationFn: () => {
      const fields: AgentFields = {
        name: name.trim(),
        instructions,
        provider: choice.provider ?? null,
        model: choice.model,
        parameters: temperature === '' ? {} : { temperature: Number(temperature) },
        tools,
        maxToolSteps,
        // A summarizer keeps its provider; a new one uses the agent's.
        summaryModel: summaryModel.trim() || null,
        summaryProvider: summaryModel.trim()
          ? (agent?.summaryProvider ?? choice.provider ?? null)
          : null,
      };
      return agent
        ? agentsApi.update(projectId, agent.id, { ...fields, version: agent.version })
        : agentsApi.create(projectId, fields);
    },
    onSuccess: onSaved,
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    save.mutate();
  };
  const toggle = (tool: AgentTool, on: boolean) =>
    setTools((current) => (on ? [...current, tool] : current.filter((item) => item !== tool)));
  return (
    <div className="agent-editor">
      <form onSubmit={submit} aria-label={agent ? `Edit ${agent.name}` : 'New agent'}>
        <label>
          Name
          <input
            value={name}
            maxLength={200}
            required
            onChange={(event) => setName(event.target.value)}
          />
        </label>
        <label>
          Instructions
          <textarea
            value={instructions}
            rows={5}
            maxLength={20_000}
            onChange={(event) => setInstructions(event.target.value)}
          />
        </label>
        <ModelPicker projectId={projectId} value={choice} onChange={setChoice} />
        <label>
          Temperature
          <input
            type="number"
            min={0}
            max={2}
            step={0.1}
            value={temperature}
            placeholder="provider default"
            onChange={(event) => setTemperature(event.target.value)}
          />
        </label>
        <fieldset>
          <legend>Tools</legend>
          {AGENT_TOOLS.map((tool) => (
            <label key={tool} className="agent-tool">
              <input
                type="checkbox"
                checked={tools.includes(tool)}
                onChange={(event) => toggle(tool, event.target.checked)}
              />
              {TOOL_LABELS[tool]}
            </label>
          ))}
        </fieldset>
        <label>
          Tool rounds per reply
          <input
            type="number"
            min={0}
            max={16}
            value={maxToolSteps}
            onChange={(event) => setMaxToolSteps(Number(event.target.value))}
          />
        </label>
        <label>
          Summarizer model (optional)
          <input
            value={summaryModel}
            maxLength={200}
            placeholder="the project's, else the reply's model"
            onChange={(event) => setSummaryModel(event.target.value)}
          />
        </label>
        <button
          type="submit"
          className="button primary"
          disabled={!choice.model || !name.trim() || save.isPending}
        >
          {agent ? 'Save new version' : 'Create agent'}
        </button>
        {agent && (
          <button type="button" className="button" onClick={() => onDelete(agent)}>
            Delete agent
          </button>
        )}
        <FormError error={save.error} />
      </form>
      {agent && <AgentVersions projectId={projectId} agentId={agent.id} />}
    </div>
  );
}

function AgentVersions({ projectId, agentId }: { projectId: string; agentId: string }) {
  const versions = useQuery({
    queryKey: ['chat', projectId, 'agent-versions', agentId],
    queryFn: () => agentsApi.versions(projectId, agentId),
  });
  return (
    <section aria-label="Versions">
      <h2>Versions</h2>
      <ol className="agent-versions">
        {(versions.data?.items ?? []).map((version) => (
          <li key={version.version} data-testid="agent-version">
            <details>
              <summary>
                v{version.version} · {version.model} ·{' '}
                {new Date(version.createdAt).toLocaleString()}
              </summary>
              <p className="chat-summary-text">{version.instructions || '(no instructions)'}</p>
              <p className="muted">Tools: {version.tools.join(', ') || 'none'}</p>
            </details>
          </li>
        ))}
      </ol>
    </section>
  );
}
