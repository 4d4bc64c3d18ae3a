import { useQueryClient } from '@tanstack/react-query';
import { useNavigate } from '@tanstack/react-router';
import { type DragEvent, type FormEvent, useEffect, useRef, useState } from 'react';
import { describeError } from '../api/api-error.ts';
import { openEventStream } from '../api/event-stream.ts';
import {
  COLUMN_TYPES,
  type ColumnType,
  type ImportInfo,
  type ImportOptions,
  type ImportProgress,
  sheetApi,
} from '../api/sheet-api.ts';
import { type UploadHandle, uploadFile } from '../api/upload.ts';
import { Dialog } from '../ui/dialog.tsx';
import { FormError } from '../ui/form-error.tsx';
import { useAnnouncer } from '../ui/live-region.tsx';
import { ImportProgressBar, type ProgressView } from './import-progress.tsx';

type Source = 'file' | 'url' | 'hub';

type Step =
  | { kind: 'choose' }
  | { kind: 'uploading'; progress: ProgressView }
  | { kind: 'preview'; info: ImportInfo }
  | { kind: 'importing'; info: ImportInfo; progress: ProgressView }
  | { kind: 'done'; info: ImportInfo };

interface ColumnChoice {
  source: string;
  name: string;
  type: ColumnType;
  include: boolean;
}

/** A dialect character as a person reads it. */
const shown = (char: string) =>
  char === '' ? 'none' : char === '\t' ? 'tab' : char === ' ' ? 'space' : `"${char}"`;

/**
 * How the import reads the preview's date or timestamp columns: the format it passes, or ISO
 * (no format: DuckDB's own parser). Nothing when the preview has no such column.
 */
function formatsShown(info: ImportInfo): string {
  const preview = info.preview;
  if (!preview?.dialect) return '';
  const types = new Set(preview.columns.map((column) => column.inferredType));
  const parts: string[] = [];
  if (types.has('date')) parts.push(`dates ${preview.dialect.dateFormat ?? 'ISO'}`);
  if (types.has('timestamp')) parts.push(`timestamps ${preview.dialect.timestampFormat ?? 'ISO'}`);
  return parts.map((part) => `, ${part}`).join('');
}

const stripExtension = (name: string) =>
  name.replace(/\.[a-z0-9]{1,8}$/i, '').slice(0, 200) || 'Imported data';

/**
 * Import a file (drag and drop or choose), a URL or a Hugging Face Hub file: upload with a
 * byte progress bar, a preview with column types to adjust, then the import job's progress
 * (bytes, rows, rows/s, cancel) from its event stream.
 */
export function ImportDialog({
  projectId,
  open,
  initialFile,
  onClose,
}: {
  projectId: string;
  open: boolean;
  initialFile?: File;
  onClose(): void;
}) {
  const queryClient = useQueryClient();
  const navigate = useNavigate();
  const { announce } = useAnnouncer();
  const [source, setSource] = useState<Source>('file');
  const [step, setStep] = useState<Step>({ kind: 'choose' });
  const [error, setError] = useState<unknown>();
  const [name, setName] = useState('');
  const [choices, setChoices] = useState<ColumnChoice[]>([]);
  /**
   * The CSV options chosen in the preview so far: a preview again sends them all (the server
   * keeps the last preview's `csv` whole for the start, so one switch must not drop another).
   */
  const [csvChosen, setCsvChosen] = useState<NonNullable<ImportOptions['csv']>>({});
  const [dragging, setDragging] = useState(false);
  const upload = useRef<UploadHandle<ImportInfo> | undefined>(undefined);
  const closeStream = useRef<(() => void) | undefined>(undefined);

  // biome-ignore lint/correctness/useExhaustiveDependencies: start once per opening with the dropped file
  useEffect(() => {
    if (!open) return;
    setStep({ kind: 'choose' });
    setError(undefined);
    setSource('file');
    setCsvChosen({});
    if (initialFile) void sendFile(initialFile);
  }, [open, initialFile]);

  useEffect(() => () => closeStream.current?.(), []);

  const sendFile = async (file: File) => {
    setError(undefined);
    setCsvChosen({});
    setName(stripExtension(file.name));
    const started = performance.now();
    const progress = (bytes: number, total: number): ProgressView => ({
      phase: 'upload',
      percentage: total ? (bytes / total) * 100 : undefined,
      bytes,
      totalBytes: total,
      rows: null,
      rowsPerSecond: null,
      elapsedMs: performance.now() - started,
    });
    setStep({ kind: 'uploading', progress: progress(0, file.size) });
    upload.current = uploadFile<ImportInfo>(
      sheetApi.uploadUrl(projectId, stripExtension(file.name)),
      file,
      (sent, total) => setStep({ kind: 'uploading', progress: progress(sent, total) }),
    );
    try {
      const info = await upload.current.done;
      showPreview(info);
    } catch (caught) {
      if ((caught as Error).name !== 'AbortError') setError(caught);
      setStep({ kind: 'choose' });
    } finally {
      upload.current = undefined;
    }
  };

  const showPreview = (info: ImportInfo) => {
    setChoices(
      (info.preview?.columns ?? []).map((column) => ({
        source: column.source,
        name: column.source.slice(0, 200) || 'Column',
        type: column.inferredType,
        include: true,
      })),
    );
    setStep({ kind: 'preview', info });
  };

  /** Reads the upload again with other CSV options; the preview shows the result first. */
  const repreview = async (change: NonNullable<ImportOptions['csv']>) => {
    if (step.kind !== 'preview') return;
    setError(undefined);
    const csv = { ...csvChosen, ...change };
    try {
      showPreview(await sheetApi.previewImport(projectId, step.info.id, { csv }));
      setCsvChosen(csv);
    } catch (caught) {
      setError(caught);
    }
  };

  const follow = (info: ImportInfo) => {
    const started = performance.now();
    setStep({
      kind: 'importing',
      info,
      progress: {
        phase: 'prepare',
        percentage: undefined,
        bytes: 0,
        totalBytes: info.sizeBytes ?? undefined,
        rows: null,
        rowsPerSecond: null,
        elapsedMs: 0,
      },
    });
    closeStream.current?.();
    const finish = (final: ImportInfo) => {
      closeStream.current?.();
      closeStream.current = undefined;
      setStep({ kind: 'done', info: final });
      void queryClient.invalidateQueries({ queryKey: ['datasets', projectId] });
      announce(
        final.status === 'succeeded'
          ? `Import finished: ${(final.rowsImported ?? 0).toLocaleString()} rows`
          : `Import ${final.status}`,
        'assertive',
      );
    };
    // Replays from the start of the import's stream, so no early event is missed.
    closeStream.current = openEventStream(
      `${sheetApi.importEventsUrl(projectId, info.id)}?lastEventId=0`,
      {
        events: {
          'import-progress': (data) => {
            const event = data as ImportProgress;
            setStep((current) =>
              current.kind === 'importing'
                ? {
                    ...current,
                    progress: {
                      phase: event.phase,
                      percentage: event.percentage < 0 ? undefined : event.percentage,
                      bytes: event.bytes,
                      totalBytes: current.info.sizeBytes ?? undefined,
                      rows: event.rows,
                      rowsPerSecond: event.rowsPerSecond,
                      elapsedMs: event.elapsedMs || performance.now() - started,
                    },
                  }
                : current,
            );
          },
          'import-end': (data) => finish(data as ImportInfo),
          resync: () =>
            void sheetApi.getImport(projectId, info.id).then((current) => {
              if (['succeeded', 'failed', 'cancelled'].includes(current.status)) finish(current);
            }),
        },
        onOpen: () =>
          // It may have ended before we subscribed to an empty ring (another server node).
          void sheetApi.getImport(projectId, info.id).then((current) => {
            if (['succeeded', 'failed', 'cancelled'].includes(current.status)) finish(current);
          }),
      },
    );
  };

  const start = async () => {
    if (step.kind !== 'preview') return;
    setError(undefined);
    try {
      const info = await sheetApi.startImport(projectId, step.info.id, {
        name,
        columns: choices.map((choice) => ({
          source: choice.source,
          name: choice.name,
          type: choice.type,
          include: choice.include,
        })),
      });
      follow(info);
    } catch (caught) {
      setError(caught);
    }
  };

  const startRemote = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    setError(undefined);
    try {
      const datasetName = String(form.get('name') ?? '').trim();
      const options = datasetName ? { name: datasetName } : undefined;
      const info =
        source === 'url'
          ? await sheetApi.importFromUrl(projectId, String(form.get('url')), options)
          : await sheetApi.importFromHub(projectId, {
              repo: String(form.get('repo')),
              file: String(form.get('file')),
              ...(String(form.get('revision') ?? '')
                ? { revision: String(form.get('revision')) }
                : {}),
              ...(options ? { options } : {}),
            });
      follow(info);
    } catch (caught) {
      setError(caught);
    }
  };

  const cancel = async () => {
    if (step.kind === 'uploading') upload.current?.abort();
    if (step.kind === 'importing') {
      try {
        await sheetApi.cancelImport(projectId, step.info.id);
      } catch (caught) {
        setError(caught);
      }
    }
  };

  const onDrop = (event: DragEvent<HTMLDivElement>) => {
    event.preventDefault();
    setDragging(false);
    const file = event.dataTransfer.files[0];
    if (file) void sendFile(file);
  };

  const close = () => {
    if (step.kind === 'uploading') upload.current?.abort();
    closeStream.current?.();
    closeStream.current = undefined;
    onClose();
  };

  return (
    <Dialog open={open} title="Import data" onClose={close} wide>
      {step.kind === 'choose' && (
        <div className="stack">
          <div className="tabs" role="tablist" aria-label="Import from">
            {(['file', 'url', 'hub'] as const).map((option) => (
              <button
                key={option}
                type="button"
                role="tab"
                aria-selected={source === option}
                onClick={() => setSource(option)}
              >
                {option === 'file' ? 'File' : option === 'url' ? 'URL' : 'Hugging Face Hub'}
              </button>
            ))}
          </div>
          {source === 'file' && (
            // biome-ignore lint/a11y/noStaticElementInteractions: a drop target; the "Choose a file" button inside is the keyboard way
            <div
              className={dragging ? 'drop-zone dragging' : 'drop-zone'}
              onDragOver={(event) => {
                event.preventDefault();
                setDragging(true);
              }}
              onDragLeave={() => setDragging(false)}
              onDrop={onDrop}
              data-testid="drop-zone"
            >
              <p>Drop a CSV, TSV, JSON, JSON Lines, Parquet or Excel file here</p>
              <label className="button">
                Choose a file
                <input
                  type="file"
                  className="visually-hidden"
                  accept=".csv,.tsv,.txt,.json,.jsonl,.ndjson,.parquet,.xlsx"
                  onChange={(event) => {
                    const file = event.target.files?.[0];
                    if (file) void sendFile(file);
                  }}
                />
              </label>
            </div>
          )}
          {source !== 'file' && (
            <form className="stack" onSubmit={startRemote}>
              {source === 'url' ? (
                <label>
                  URL of a file (http or https)
                  <input
                    name="url"
                    type="url"
                    required
                    maxLength={4000}
                    placeholder="https://example.com/data.csv"
                  />
                </label>
              ) : (
                <>
                  <label>
                    Dataset repository
                    <input
                      name="repo"
                      required
                      placeholder="owner/name"
                      pattern="[A-Za-z0-9][\w.\-]{0,95}/[\w.\-]{1,96}"
                    />
                  </label>
                  <label>
                    File in the repository
                    <input name="file" required maxLength={1000} placeholder="data/train.csv" />
                  </label>
                  <label>
                    Revision (optional)
                    <input name="revision" maxLength={100} placeholder="main" />
                  </label>
                </>
              )}
              <label>
                Dataset name (optional)
                <input name="name" maxLength={200} />
              </label>
              <div className="dialog-actions">
                <button type="submit" className="primary">
                  Import
                </button>
              </div>
            </form>
          )}
          <FormError error={error} />
        </div>
      )}

      {step.kind === 'uploading' && (
        <div className="stack">
          <ImportProgressBar progress={step.progress} />
          <div className="dialog-actions">
            <button type="button" onClick={cancel}>
              Cancel upload
            </button>
          </div>
        </div>
      )}

      {step.kind === 'preview' && (
        <div className="stack">
          <label>
            Dataset name
            <input
              value={name}
              onChange={(event) => setName(event.target.value)}
              required
              maxLength={200}
            />
          </label>
          <p className="muted">
            {step.info.displayName} · {step.info.format?.toUpperCase()} ·{' '}
            {(step.info.sizeBytes ?? 0).toLocaleString()} bytes
            {step.info.preview?.rejectedBeforeRead
              ? ` · ${step.info.preview.rejectedBeforeRead} lines will be rejected`
              : ''}
          </p>
          {step.info.preview?.dialect && (
            <div className="row">
              <p className="muted" data-testid="import-dialect">
                Read with delimiter {shown(step.info.preview.dialect.delimiter)}, quote{' '}
                {shown(step.info.preview.dialect.quote)}, escape{' '}
                {shown(step.info.preview.dialect.escape)}, {step.info.preview.dialect.encoding}
                {formatsShown(step.info)}
              </p>
              <label className="checkbox">
                <input
                  type="checkbox"
                  checked={!step.info.preview.dialect.header}
                  onChange={(event) => void repreview({ header: !event.target.checked })}
                />
                First row is data
              </label>
              <label className="checkbox">
                <input
                  type="checkbox"
                  checked={Boolean(step.info.preview.dialect.relaxedQuotes)}
                  onChange={(event) => void repreview({ relaxedQuotes: event.target.checked })}
                />
                Relaxed quotes
              </label>
            </div>
          )}
          {(step.info.preview?.warnings ?? []).length > 0 && (
            <ul className="callout" role="status" aria-label="Import warnings">
              {(step.info.preview?.warnings ?? []).map((warning) => (
                <li key={warning.code}>{warning.message}</li>
              ))}
            </ul>
          )}
          <div className="preview-table">
            <table className="data-table">
              <thead>
                <tr>
                  {choices.map((choice, index) => (
                    <th key={choice.source} scope="col">
                      <label className="checkbox">
                        <input
                          type="checkbox"
                          checked={choice.include}
                          aria-label={`Import column ${choice.source}`}
                          onChange={(event) =>
                            setChoices((all) =>
                              all.map((item, at) =>
                                at === index ? { ...item, include: event.target.checked } : item,
                              ),
                            )
                          }
                        />
                        <input
                          value={choice.name}
                          aria-label={`Name of column ${choice.source}`}
                          maxLength={200}
                          onChange={(event) =>
                            setChoices((all) =>
                              all.map((item, at) =>
                                at === index ? { ...item, name: event.target.value } : item,
                              ),
                            )
                          }
                        />
                      </label>
                      <select
                        value={choice.type}
                        aria-label={`Type of column ${choice.source}`}
                        onChange={(event) =>
                          setChoices((all) =>
                            all.map((item, at) =>
                              at === index
                                ? { ...item, type: event.target.value as ColumnType }
                                : item,
                            ),
                          )
                        }
                      >
                        {COLUMN_TYPES.map((type) => (
                          <option key={type} value={type}>
                            {type}
                          </option>
                        ))}
                      </select>
                    </th>
                  ))}
                </tr>
              </thead>
              <tbody>
                {(step.info.preview?.sample ?? []).slice(0, 5).map((row, index) => (
                  // biome-ignore lint/suspicious/noArrayIndexKey: preview rows have no identity
                  <tr key={index}>
                    {choices.map((choice) => {
                      const value = row[choice.source];
                      return (
                        <td key={choice.source}>
                          {value === null || value === undefined
                            ? ''
                            : typeof value === 'object'
                              ? JSON.stringify(value)
                              : String(value).slice(0, 200)}
                        </td>
                      );
                    })}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <FormError error={error} />
          <div className="dialog-actions">
            <button type="button" onClick={close}>
              Cancel
            </button>
            <button
              type="button"
              className="primary"
              onClick={start}
              disabled={!name.trim() || !choices.some((choice) => choice.include)}
            >
              Import {choices.filter((choice) => choice.include).length} columns
            </button>
          </div>
        </div>
      )}

      {step.kind === 'importing' && (
        <div className="stack">
          <ImportProgressBar progress={step.progress} />
          <FormError error={error} />
          <div className="dialog-actions">
            <button type="button" onClick={cancel}>
              Cancel import
            </button>
          </div>
        </div>
      )}

      {step.kind === 'done' && (
        <div className="stack" role="status">
          {step.info.status === 'succeeded' ? (
            <>
              <p>
                Imported {(step.info.rowsImported ?? 0).toLocaleString()} rows
                {step.info.rowsRejected
                  ? `; ${step.info.rowsRejected.toLocaleString()} lines were rejected`
                  : ''}
                {(step.info.conversions ?? []).map(
                  (conversion) =>
                    `; ${conversion.failed.toLocaleString()} cells of ${conversion.column} are not ${conversion.type} (marked as errors, their text kept)`,
                )}
                .
              </p>
              <div className="dialog-actions">
                <button type="button" onClick={close}>
                  Close
                </button>
                <button
                  type="button"
                  className="primary"
                  onClick={() => {
                    close();
                    if (step.info.datasetId)
                      void navigate({
                        to: '/projects/$projectId/datasets/$datasetId',
                        params: { projectId, datasetId: step.info.datasetId },
                      });
                  }}
                >
                  Open dataset
                </button>
              </div>
            </>
          ) : (
            <>
              <p>The import {step.info.status === 'cancelled' ? 'was cancelled' : 'failed'}.</p>
              {step.info.error !== null && step.info.error !== undefined && (
                <p className="form-error">{describeImportError(step.info.error)}</p>
              )}
              <div className="dialog-actions">
                <button type="button" onClick={() => setStep({ kind: 'choose' })}>
                  Try another file
                </button>
              </div>
            </>
          )}
        </div>
      )}
    </Dialog>
  );
}

function describeImportError(error: unknown): string {
  if (typeof error === 'string') return error;
  if (typeof error === 'object' && error !== null && 'message' in error)
    return String((error as { message: unknown }).message);
  return describeError(error);
}
