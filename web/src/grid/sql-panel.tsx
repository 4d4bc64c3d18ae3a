import { useMutation } from '@tanstack/react-query';
import { useState } from 'react';
import { sheetApi } from '../api/sheet-api.ts';
import { FormError } from '../ui/form-error.tsx';
import { valueToText } from './clipboard-text.ts';

/** Read-only SQL over the dataset (`SELECT … FROM dataset`); results shown as text. */
export function SqlPanel({
  projectId,
  datasetId,
  onClose,
}: {
  projectId: string;
  datasetId: string;
  onClose(): void;
}) {
  const [sql, setSql] = useState('SELECT * FROM dataset LIMIT 100');
  const run = useMutation({
    mutationFn: (text: string) => sheetApi.sql(projectId, datasetId, text),
  });
  const result = run.data;
  return (
    <section className="side-panel sql-panel" aria-label="SQL">
      <header className="panel-header">
        <h2>SQL</h2>
        <button
          type="button"
          className="icon-button"
          aria-label="Close SQL panel"
          onClick={onClose}
        >
          ×
        </button>
      </header>
      <label>
        Query (read-only; the table is named <code>dataset</code>, columns by their names)
        <textarea
          value={sql}
          rows={6}
          spellCheck={false}
          className="mono"
          onChange={(event) => setSql(event.target.value)}
          onKeyDown={(event) => {
            if ((event.ctrlKey || event.metaKey) && event.key === 'Enter') {
              event.preventDefault();
              run.mutate(sql);
            }
          }}
        />
      </label>
      <div className="row">
        <button
          type="button"
          className="primary"
          disabled={run.isPending}
          onClick={() => run.mutate(sql)}
        >
          {run.isPending ? 'Running…' : 'Run (Ctrl+Enter)'}
        </button>
        {result && (
          <span className="muted" role="status">
            {result.rows.length.toLocaleString()} rows{result.truncated ? ' (truncated)' : ''}
          </span>
        )}
      </div>
      <FormError error={run.error} />
      {result && (
        <div className="sql-results">
          <table className="data-table">
            <thead>
              <tr>
                {result.columns.map((column) => (
                  <th key={column.name} scope="col" title={column.type}>
                    {column.name}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {result.rows.map((row, index) => (
                // biome-ignore lint/suspicious/noArrayIndexKey: result rows have no identity
                <tr key={index}>
                  {result.columns.map((column) => (
                    <td key={column.name}>{valueToText(row[column.name] as never)}</td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
