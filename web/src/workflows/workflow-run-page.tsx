import { useQuery, useQueryClient } from '@tanstack/react-query';
import { Link, useNavigate, useParams } from '@tanstack/react-router';
import { useEffect, useRef, useState } from 'react';
import { openEventStream } from '../api/event-stream.ts';
import { setLiveData } from '../api/live-query.ts';
import { rememberProject } from '../projects/home-page.tsx';
import { useConfirm } from '../ui/confirm.tsx';
import { FormError } from '../ui/form-error.tsx';
import { formatDateTime, formatInteger, formatNanoUsd } from '../ui/format.ts';
import { useAnnouncer } from '../ui/live-region.tsx';
import { ReportView, reportOf } from './report-view.tsx';
import { type StepError, type WorkflowRun, workflowApi } from './workflow-api.ts';
import { kindLabel } from './workflow-editor.tsx';
import { formatMs, RUN_STATUS_LABELS, STEP_STATUS_LABELS } from './workflow-labels.ts';
import { type TimelineStep, timelineOf } from './workflow-timeline.ts';
import './workflows.css';

/** A step's items done so far (an extraction's documents, an AI-column run's cells). */
interface StepProgress {
  step: string;
  done: number;
  total: number;
}

function ErrorEnvelope({ error }: { error: StepError }) {
  return (
    <div className="form-error" role="alert">
      <p>
        <strong>{error.code}</strong>: {error.message}
      </p>
      <p className="small">
        {error.retryable ? 'Retryable.' : 'Not retryable.'}
        {error.requestId ? ` Request ${error.requestId}.` : ''}
      </p>
    </div>
  );
}

function outputText(output: unknown): string {
  const text = JSON.stringify(output, null, 2) ?? '';
  return text.length > 20_000 ? `${text.slice(0, 20_000)}\n…` : text;
}

/** The file a completed `export` step wrote (its output's `file`), if any. */
function exportedFile(step: TimelineStep): string | undefined {
  if (step.kind !== 'export' || step.status !== 'completed') return undefined;
  const output = step.output as { file?: unknown } | null | undefined;
  return typeof output?.file === 'string' ? output.file : undefined;
}

function StepCard({
  projectId,
  runId,
  step,
  index,
  waiting,
  busy,
  onDecide,
  progress,
}: {
  projectId: string;
  runId: string;
  step: TimelineStep;
  index: number;
  progress: StepProgress | undefined;
  waiting: boolean;
  busy: boolean;
  onDecide: (decision: 'approved' | 'rejected', note: string) => void;
}) {
  const [note, setNote] = useState('');
  const file = exportedFile(step);
  const report =
    step.kind === 'report' && step.status === 'completed' ? reportOf(step.output) : undefined;
  const tokens =
    step.inputTokens === null && step.outputTokens === null
      ? '—'
      : `${formatInteger(step.inputTokens)} in / ${formatInteger(step.outputTokens)} out`;
  return (
    <li
      className={`timeline-step step-${step.status}`}
      aria-label={`Step ${index + 1}: ${step.id}`}
    >
      <header>
        <strong>
          {index + 1}. {step.id}
        </strong>
        <span className="muted small">{kindLabel(step.kind)}</span>
        <span className={`status status-${step.status}`} data-testid="step-status">
          {STEP_STATUS_LABELS[step.status] ?? step.status}
        </span>
        {progress && step.status === 'running' && (
          <span className="muted small" data-testid="step-progress">
            {formatInteger(progress.done)} / {formatInteger(progress.total)}
          </span>
        )}
      </header>
      {step.status !== 'pending' && (
        <dl className="step-figures">
          <div>
            <dt>Duration</dt>
            <dd>{formatMs(step.durationMs)}</dd>
          </div>
          <div>
            <dt>Attempts</dt>
            <dd>{step.attempts}</dd>
          </div>
          <div>
            <dt>Tokens</dt>
            <dd>{tokens}</dd>
          </div>
          <div>
            <dt>Cost</dt>
            <dd>{formatNanoUsd(step.costNano)}</dd>
          </div>
          <div>
            <dt>Started</dt>
            <dd>{formatDateTime(step.startedAt)}</dd>
          </div>
        </dl>
      )}
      {step.error && <ErrorEnvelope error={step.error} />}
      {file && (
        <a className="button" href={workflowApi.fileUrl(projectId, runId, step.id)} download={file}>
          Download {file}
        </a>
      )}
      {waiting && (
        <form
          className="stack"
          aria-label={`Decide on ${step.id}`}
          onSubmit={(event) => event.preventDefault()}
        >
          <label>
            Note (optional)
            <input
              value={note}
              maxLength={2_000}
              onChange={(event) => setNote(event.target.value)}
            />
          </label>
          <div className="row">
            <button
              type="button"
              className="primary"
              disabled={busy}
              onClick={() => onDecide('approved', note)}
            >
              Approve
            </button>
            <button
              type="button"
              className="danger"
              disabled={busy}
              onClick={() => onDecide('rejected', note)}
            >
              Reject
            </button>
          </div>
        </form>
      )}
      {report ? (
        <ReportView projectId={projectId} title={report.title} markdown={report.markdown} />
      ) : (
        step.output !== null &&
        step.output !== undefined && (
          <details>
            <summary>Output</summary>
            <pre className="step-output">{outputText(step.output)}</pre>
          </details>
        )
      )}
    </li>
  );
}

/**
 * /projects/:projectId/workflow-runs/:runId — a run's timeline: each step's status, duration,
 * attempts, tokens, cost and error envelope; cancel, pause, resume, retry the failed step,
 * approve or reject, rerun from a step; and the report. Live: the run's event stream brings
 * every change and each step's progress (docs/workflows.md "Live view").
 */
export function WorkflowRunPage() {
  const { projectId, runId } = useParams({ strict: false }) as { projectId: string; runId: string };
  useEffect(() => rememberProject(projectId), [projectId]);
  const queryClient = useQueryClient();
  const navigate = useNavigate();
  const confirm = useConfirm();
  const { announce } = useAnnouncer();
  const [actionError, setActionError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const [fromStep, setFromStep] = useState('');

  const [progress, setProgress] = useState<Record<string, StepProgress>>({});
  const run = useQuery({
    queryKey: ['workflow-run', projectId, runId],
    queryFn: () => workflowApi.run(projectId, runId),
  });
  // The run's live stream: each change brings the whole run. Opened first, then the run is
  // read again, so no change between the first read and the stream is missed; the browser
  // reconnects by itself with Last-Event-ID.
  useEffect(() => {
    const key = ['workflow-run', projectId, runId];
    setProgress({});
    return openEventStream(workflowApi.eventsUrl(projectId, runId), {
      events: {
        'run-updated': (data) => setLiveData(queryClient, key, data as WorkflowRun),
        'step-progress': (data) => {
          const next = data as StepProgress;
          setProgress((previous) => ({ ...previous, [next.step]: next }));
        },
        resync: () => void queryClient.invalidateQueries({ queryKey: key }),
      },
      onOpen: () => void queryClient.invalidateQueries({ queryKey: key }),
    });
  }, [projectId, runId, queryClient]);
  const workflowId = run.data?.workflowId;
  const workflow = useQuery({
    queryKey: ['workflow', projectId, workflowId],
    queryFn: () => workflowApi.get(projectId, workflowId!),
    enabled: workflowId !== undefined,
  });

  // Say when the run's status changes (not on every event).
  const lastStatus = useRef<string>(undefined);
  useEffect(() => {
    const status = run.data?.status;
    if (status && lastStatus.current && status !== lastStatus.current)
      announce(`Run ${RUN_STATUS_LABELS[status] ?? status}`);
    lastStatus.current = status;
  }, [run.data?.status, announce]);

  if (run.isPending) return <p className="page muted">Loading…</p>;
  if (run.isError)
    return (
      <section className="page">
        <FormError error={run.error} />
      </section>
    );
  const current = run.data;
  // The definition's steps only when it is the version this run is pinned to.
  const definitionSteps =
    workflow.data && workflow.data.version === current.version
      ? workflow.data.definition.steps
      : undefined;
  const steps = timelineOf(current, definitionSteps);
  // No step called a model: the totals are unknown rather than zero.
  const metered = current.steps.some(
    (step) => step.inputTokens !== null || step.outputTokens !== null || step.costNano !== null,
  );

  const act = async (action: () => Promise<WorkflowRun>) => {
    setBusy(true);
    setActionError(undefined);
    try {
      const next = await action();
      queryClient.setQueryData(['workflow-run', projectId, runId], next);
      await queryClient.invalidateQueries({ queryKey: ['workflow-run', projectId, runId] });
    } catch (failure) {
      setActionError(failure);
    } finally {
      setBusy(false);
    }
  };
  const rerun = async () => {
    const step = fromStep || steps[0]?.id;
    if (!step) return;
    setBusy(true);
    setActionError(undefined);
    try {
      const next = await workflowApi.rerun(projectId, runId, step);
      await navigate({
        to: '/projects/$projectId/workflow-runs/$runId',
        params: { projectId, runId: next.id },
      });
    } catch (failure) {
      setActionError(failure);
    } finally {
      setBusy(false);
    }
  };

  const status = current.status;
  const cancellable = ['queued', 'running', 'paused', 'waiting-approval'].includes(status);
  const finished = ['completed', 'failed', 'cancelled'].includes(status);

  return (
    <section className="page">
      <p>
        <Link
          to="/projects/$projectId/workflows/$workflowId"
          params={{ projectId, workflowId: current.workflowId }}
        >
          ‹ {current.workflowName}
        </Link>
      </p>
      <header className="row">
        <h1>Run of {current.workflowName}</h1>
        <span className={`status status-${status}`} data-testid="run-status" role="status">
          {RUN_STATUS_LABELS[status] ?? status}
        </span>
      </header>
      <p className="muted small">
        Version {current.version} · started {formatDateTime(current.startedAt ?? current.createdAt)}
        {current.finishedAt ? ` · finished ${formatDateTime(current.finishedAt)}` : ''}
        {current.fromStep ? ` · rerun from ${current.fromStep}` : ''}
        {Object.keys(current.inputs).length > 0
          ? ` · inputs: ${Object.entries(current.inputs)
              .map(([name, value]) => `${name}=${value}`)
              .join(', ')}`
          : ''}
      </p>
      <dl className="step-figures" aria-label="Totals">
        <div>
          <dt>Duration</dt>
          <dd>{formatMs(current.totals.durationMs)}</dd>
        </div>
        <div>
          <dt>Tokens</dt>
          <dd>
            {metered
              ? `${formatInteger(current.totals.inputTokens)} in / ${formatInteger(current.totals.outputTokens)} out`
              : '—'}
          </dd>
        </div>
        <div>
          <dt>Cost</dt>
          <dd>{metered ? formatNanoUsd(current.totals.costNano) : '—'}</dd>
        </div>
      </dl>

      <div className="row card" data-testid="run-actions">
        {status === 'running' || status === 'queued' ? (
          <button
            type="button"
            disabled={busy}
            onClick={() => act(() => workflowApi.act(projectId, runId, 'pause'))}
          >
            Pause
          </button>
        ) : null}
        {status === 'paused' && (
          <button
            type="button"
            className="primary"
            disabled={busy}
            onClick={() => act(() => workflowApi.act(projectId, runId, 'resume'))}
          >
            Resume
          </button>
        )}
        {status === 'failed' && current.failedStep && (
          <button
            type="button"
            className="primary"
            disabled={busy}
            onClick={() => act(() => workflowApi.act(projectId, runId, 'resume'))}
          >
            Retry step {current.failedStep}
          </button>
        )}
        {cancellable && (
          <button
            type="button"
            className="danger"
            disabled={busy}
            onClick={async () => {
              const sure = await confirm({
                title: 'Cancel this run?',
                message: 'The running step’s calls are stopped. Finished steps keep their outputs.',
                confirmLabel: 'Cancel run',
                danger: true,
              });
              if (sure) await act(() => workflowApi.act(projectId, runId, 'cancel'));
            }}
          >
            Cancel run
          </button>
        )}
        {finished && steps.length > 0 && (
          <>
            <span className="spacer" />
            <label className="inline-label">
              Rerun from
              <select
                value={fromStep || steps[0]!.id}
                onChange={(event) => setFromStep(event.target.value)}
              >
                {steps.map((step) => (
                  <option key={step.id} value={step.id}>
                    {step.id}
                  </option>
                ))}
              </select>
            </label>
            <button type="button" disabled={busy} onClick={rerun}>
              Rerun
            </button>
          </>
        )}
        {busy && <span className="muted">Working…</span>}
      </div>
      <FormError error={actionError} />
      {current.error && status === 'failed' && (
        <section aria-label="Run error">
          <h2>Failed{current.failedStep ? ` at ${current.failedStep}` : ''}</h2>
          <ErrorEnvelope error={current.error} />
        </section>
      )}

      <h2>Steps</h2>
      {steps.length === 0 ? (
        <p className="muted">No step has started yet.</p>
      ) : (
        <ol className="timeline" aria-label="Timeline">
          {steps.map((step, index) => (
            <StepCard
              key={step.id}
              projectId={projectId}
              runId={runId}
              step={step}
              index={index}
              progress={progress[step.id]}
              busy={busy}
              waiting={status === 'waiting-approval' && current.waitingFor === step.id}
              onDecide={(decision, note) =>
                act(() => workflowApi.decide(projectId, runId, step.id, decision, note))
              }
            />
          ))}
        </ol>
      )}
    </section>
  );
}
