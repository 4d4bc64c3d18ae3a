import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { useEffect, useId, useMemo, useState } from 'react';
import { describeError } from '../api/api-error.ts';
import {
  generationApi,
  type OutputSpec,
  type PromptPreviewRequest,
} from '../api/generation-api.ts';

/** Wait this long after the last keystroke before rendering the draft again. */
const DEBOUNCE_MS = 250;
const ROW_CHOICES = [1, 3, 5, 10];

function useDebounced<T>(value: T, delayMs: number): T {
  const [debounced, setDebounced] = useState(value);
  useEffect(() => {
    const timer = window.setTimeout(() => setDebounced(value), delayMs);
    return () => window.clearTimeout(timer);
  }, [value, delayMs]);
  return debounced;
}

/**
 * The draft prompt rendered on the first rows as the model would get it, without calling the
 * model (POST …/ai-columns/preview-prompt), refreshed as the user types. Every value is plain
 * text in a <pre>: cell values and prompts are never HTML.
 */
export function PromptPreview({
  projectId,
  datasetId,
  columnId,
  columnName,
  prompt,
  instructions,
  output,
}: {
  projectId: string;
  datasetId: string;
  columnId: string | undefined;
  columnName: string;
  prompt: string;
  instructions: string;
  /** Undefined while the draft's output settings are invalid (then previewed as text). */
  output: OutputSpec | undefined;
}) {
  const id = useId();
  const [rows, setRows] = useState(3);
  const request: PromptPreviewRequest = {
    prompt,
    instructions,
    rows,
    ...(output ? { output } : {}),
    ...(columnId ? { columnId } : {}),
    ...(columnName.trim() ? { columnName } : {}),
  };
  const debouncedKey = useDebounced(JSON.stringify(request), DEBOUNCE_MS);
  const debounced = useMemo(() => JSON.parse(debouncedKey) as PromptPreviewRequest, [debouncedKey]);
  const ready = prompt.trim().length > 0;
  const preview = useQuery({
    queryKey: ['prompt-preview', projectId, datasetId, debouncedKey],
    queryFn: ({ signal }) => generationApi.previewPrompt(projectId, datasetId, debounced, signal),
    enabled: ready && debounced.prompt.trim().length > 0,
    placeholderData: keepPreviousData,
    retry: false,
    staleTime: 10_000,
  });
  // A draft the server refuses (an unknown column) shows why, not the last good preview.
  const data = ready && !preview.error ? preview.data : undefined;
  const system = data?.rows[0]?.messages.find((message) => message.role === 'system');

  return (
    <section className="stack prompt-preview" aria-labelledby={`${id}-title`}>
      <div className="row">
        <h3 id={`${id}-title`}>Prompt preview</h3>
        <label>
          <span className="visually-hidden">Rows to preview</span>
          <select value={rows} onChange={(event) => setRows(Number(event.target.value))}>
            {ROW_CHOICES.map((count) => (
              <option key={count} value={count}>
                First {count} {count === 1 ? 'row' : 'rows'}
              </option>
            ))}
          </select>
        </label>
        {preview.isFetching && ready && <span className="hint">Updating…</span>}
      </div>
      <p className="hint">
        What the model would be sent, rendered without calling it. Few-shot examples (from validated
        cells) and web search results are added when the column runs and are not shown.
        {data?.omitted.includes('variety-note') &&
          ' Each row will also ask for an answer different from the other rows.'}
      </p>
      {!ready && <p className="hint">Write a prompt to see it filled in with the first rows.</p>}
      {ready && preview.error && (
        <p className="form-error" data-testid="prompt-preview-error">
          {describeError(preview.error)}
        </p>
      )}
      {data && data.rows.length === 0 && <p className="hint">The dataset has no rows yet.</p>}
      {data && data.rows.length > 0 && (
        <div data-testid="prompt-preview">
          {system && (
            <details>
              <summary>System message (the same for every row)</summary>
              <pre className="prompt-text">{system.content}</pre>
            </details>
          )}
          <ol className="prompt-preview-rows">
            {data.rows.map((row) => (
              <li key={row.rowId}>
                <span className="hint">
                  Row {row.position}
                  {row.missingColumns.length > 0 &&
                    ` · empty here: ${row.missingColumns.join(', ')}`}
                </span>
                <pre className="prompt-text">
                  {row.messages
                    .filter((message) => message.role !== 'system')
                    .map((message) => message.content)
                    .join('\n\n')}
                </pre>
              </li>
            ))}
          </ol>
        </div>
      )}
    </section>
  );
}
