import { useMutation, useQuery } from '@tanstack/react-query';
import { type FormEvent, useEffect, useState } from 'react';
import { type ModelChoice, ModelPicker } from '../ai/model-picker.tsx';
import { ACTIVE_RUN_STATUSES, generationApi, type Run } from '../api/generation-api.ts';
import type { Column } from '../api/sheet-api.ts';
import { Dialog } from '../ui/dialog.tsx';
import { FormError } from '../ui/form-error.tsx';
import { formatNanoUsd } from '../ui/format.ts';
import { useNotices } from '../ui/notices.tsx';

/** The server's cap on rows per request (MAX_GENERATED_ROWS). */
const MAX_ROWS = 1_000;

interface GenerateRowsDialogProps {
  open: boolean;
  projectId: string;
  datasetId: string;
  columns: readonly Column[];
  onClose(): void;
  /** The run started (the runs strip follows it too). */
  onStarted(run: Run): void;
}

/**
 * N new rows from a description (`POST …/generate-rows`): one model call per row, in parallel,
 * answering the chosen static columns. The run is durable: closing the dialog does not stop
 * it (the runs strip keeps showing it), and the new rows reach the grid as they are appended.
 */
export function GenerateRowsDialog({
  open,
  projectId,
  datasetId,
  columns,
  onClose,
  onStarted,
}: GenerateRowsDialogProps) {
  const notices = useNotices();
  const fillable = columns.filter((column) => column.kind === 'static');
  const [description, setDescription] = useState('');
  const [count, setCount] = useState(10);
  const [chosen, setChosen] = useState<ReadonlySet<string>>(new Set());
  const [model, setModel] = useState<ModelChoice>({ provider: undefined, model: '' });
  const [runId, setRunId] = useState<string>();

  // A fresh form each time it opens; the model choice is kept for the next batch.
  useEffect(() => {
    if (!open) return;
    setRunId(undefined);
    setChosen(new Set(columns.filter((column) => column.kind === 'static').map((c) => c.id)));
  }, [open, columns]);

  const start = useMutation({
    mutationFn: () =>
      generationApi.generateRows(projectId, datasetId, {
        description,
        count,
        // Every static column is the server's default; send the list only when narrowed.
        ...(chosen.size < fillable.length
          ? { columnIds: fillable.filter((c) => chosen.has(c.id)).map((c) => c.id) }
          : {}),
        ...(model.provider ? { provider: model.provider } : {}),
        model: model.model,
      }),
    onSuccess: (run) => {
      setRunId(run.id);
      onStarted(run);
    },
  });

  const run = useQuery({
    queryKey: ['run', projectId, datasetId, runId],
    queryFn: () => generationApi.run(projectId, datasetId, runId!),
    // Closed, the runs strip follows the run (its events): no polling in the background.
    enabled: open && runId !== undefined,
    refetchInterval: (query) =>
      !query.state.data || ACTIVE_RUN_STATUSES.includes(query.state.data.status) ? 1_000 : false,
  });

  const submit = (event: FormEvent) => {
    event.preventDefault();
    start.mutate();
  };

  const toggle = (columnId: string, on: boolean) =>
    setChosen((previous) => {
      const next = new Set(previous);
      if (on) next.add(columnId);
      else next.delete(columnId);
      return next;
    });

  return (
    <Dialog open={open} title="Generate rows" onClose={onClose} wide>
      {runId === undefined ? (
        <form className="stack" onSubmit={submit} data-testid="generate-rows-form">
          <label>
            Describe the rows
            <textarea
              value={description}
              onChange={(event) => setDescription(event.target.value)}
              rows={4}
              maxLength={20_000}
              required
              placeholder="e.g. Fictional bookshops in Lisbon, with a one-line tagline each"
            />
          </label>
          <label>
            Number of rows
            <input
              type="number"
              min={1}
              max={MAX_ROWS}
              value={count}
              onChange={(event) => setCount(Number(event.target.value))}
              required
            />
          </label>
          {fillable.length === 0 ? (
            <p className="form-error" role="alert">
              This dataset has no plain columns to fill: add a column first.
            </p>
          ) : (
            <fieldset className="stack">
              <legend>Columns to fill</legend>
              {fillable.map((column) => (
                <label key={column.id} className="row">
                  <input
                    type="checkbox"
                    checked={chosen.has(column.id)}
                    onChange={(event) => toggle(column.id, event.target.checked)}
                  />
                  {column.name}
                </label>
              ))}
            </fieldset>
          )}
          <ModelPicker projectId={projectId} value={model} onChange={setModel} />
          <p className="muted">
            One model call per row, in parallel. A row whose answer does not fit the columns or
            repeats another row is asked again (up to 3 calls).
          </p>
          <FormError error={start.error} />
          <div className="dialog-actions">
            <button type="button" onClick={onClose}>
              Cancel
            </button>
            <button
              type="submit"
              className="primary"
              disabled={
                start.isPending ||
                !description.trim() ||
                !model.model ||
                chosen.size === 0 ||
                !(count >= 1 && count <= MAX_ROWS)
              }
            >
              Generate {Number.isFinite(count) && count > 0 ? count.toLocaleString() : ''} rows
            </button>
          </div>
        </form>
      ) : (
        <RunProgress
          run={run.data}
          error={run.error}
          onStop={() =>
            void generationApi
              .action(projectId, datasetId, runId, 'cancel')
              .then(() => run.refetch(), notices.error)
          }
          onAgain={() => setRunId(undefined)}
          onClose={onClose}
        />
      )}
    </Dialog>
  );
}

function RunProgress({
  run,
  error,
  onStop,
  onAgain,
  onClose,
}: {
  run: Run | undefined;
  error: unknown;
  onStop(): void;
  onAgain(): void;
  onClose(): void;
}) {
  if (!run) return error ? <FormError error={error} /> : <p role="status">Starting…</p>;
  const active = ACTIVE_RUN_STATUSES.includes(run.status);
  const { total, done, errors } = run.progress;
  return (
    <div className="stack" data-testid="generate-rows-progress">
      <progress max={Math.max(1, total)} value={done + errors} aria-label="Rows generated" />
      <p role="status" data-testid="generate-rows-status">
        {active
          ? `Generating… ${done.toLocaleString()} of ${total.toLocaleString()} rows added`
          : run.status === 'completed'
            ? `${done.toLocaleString()} of ${total.toLocaleString()} rows added.`
            : run.status === 'cancelled'
              ? `Stopped: ${done.toLocaleString()} of ${total.toLocaleString()} rows added.`
              : `Failed: ${done.toLocaleString()} of ${total.toLocaleString()} rows added.`}
        {errors ? ` ${errors.toLocaleString()} could not be made.` : ''}
        {run.progress.costNano ? ` Cost ${formatNanoUsd(run.progress.costNano)}.` : ''}
      </p>
      {run.error && (
        <p className="form-error" role="alert" data-testid="generate-rows-error">
          {run.error.message}
        </p>
      )}
      <div className="dialog-actions">
        {active ? (
          <button type="button" className="danger" onClick={onStop}>
            Stop
          </button>
        ) : (
          <button type="button" onClick={onAgain}>
            Generate more
          </button>
        )}
        <button type="button" className="primary" onClick={onClose}>
          {active ? 'Keep running in the background' : 'Done'}
        </button>
      </div>
    </div>
  );
}
