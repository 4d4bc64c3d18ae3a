import { useQueryClient } from '@tanstack/react-query';
import { type ReactNode, useEffect, useState } from 'react';
import { type Column, type Dataset, type Filter, sheetApi } from '../api/sheet-api.ts';
import { useConfirm } from '../ui/confirm.tsx';
import { Dialog } from '../ui/dialog.tsx';
import { FormError } from '../ui/form-error.tsx';
import { Menu } from '../ui/menu.tsx';
import { useNotices } from '../ui/notices.tsx';
import { ExportMenu } from './export-menu.tsx';
import { describeFilter } from './filter-dialog.tsx';
import type { StreamState } from './use-dataset-events.ts';
import type { Density } from './view-prefs.ts';

interface DatasetToolbarProps {
  projectId: string;
  dataset: Dataset;
  total: number;
  filtered: boolean;
  stream: StreamState;
  readOnly: boolean;
  filters: readonly Filter[];
  columns: readonly Column[];
  hidden: readonly Column[];
  search: string;
  selectedRows: number;
  onSearch(search: string): void;
  onRemoveFilter(index: number): void;
  onShowColumn(column: Column): void;
  onAddRow(): void;
  onDeleteRows(): void;
  onAddColumn(): void;
  onAddFormula(): void;
  onToggleSql(): void;
  onAddAi(): void;
  onGenerateRows(): void;
  onDeleted(): void;
  density: Density;
  onDensity(density: Density): void;
  onOpenColumns(): void;
  /** Opens the active row as a form. */
  onOpenRecord(): void;
  /** Saved views (saved-views.tsx useSavedViews): items of the View menu, and its label. */
  savedViews?: {
    items: ReactNode;
    dialog: ReactNode;
    label: string;
    ariaLabel?: string | undefined;
  };
}

const DENSITIES: { value: Density; label: string }[] = [
  { value: 'compact', label: 'Compact rows' },
  { value: 'comfortable', label: 'Comfortable rows' },
  { value: 'wrapped', label: 'Wrapped rows' },
];

const STREAM_LABELS: Record<StreamState, string> = {
  connecting: 'Connecting…',
  live: 'Live',
  reconnecting: 'Reconnecting…',
};

export function DatasetToolbar(props: DatasetToolbarProps) {
  const { projectId, dataset, total, filtered, stream, readOnly, filters, columns, hidden } = props;
  const queryClient = useQueryClient();
  const notices = useNotices();
  const confirm = useConfirm();
  const [search, setSearch] = useState(props.search);
  const [renaming, setRenaming] = useState(false);
  const [renameError, setRenameError] = useState<unknown>();

  // A saved view applied sets the search from outside.
  useEffect(() => setSearch(props.search), [props.search]);
  // Search as you type, once typing pauses.
  useEffect(() => {
    if (search === props.search) return;
    const timer = window.setTimeout(() => props.onSearch(search), 300);
    return () => window.clearTimeout(timer);
  }, [search, props.search, props.onSearch]);

  const remove = async () => {
    if (
      !(await confirm({
        title: 'Delete dataset?',
        message: `Delete the dataset “${dataset.name}”? It can be restored from the datasets page until it is purged.`,
        confirmLabel: 'Delete dataset',
        danger: true,
      }))
    )
      return;
    try {
      await sheetApi.remove(projectId, dataset.id);
      await queryClient.invalidateQueries({ queryKey: ['datasets', projectId] });
      props.onDeleted();
    } catch (error) {
      notices.error(error);
    }
  };

  const actions = [
    { key: 'add-row', label: '+ Row', run: props.onAddRow, disabled: false },
    {
      key: 'delete-rows',
      label: `Delete ${props.selectedRows > 1 ? `${props.selectedRows.toLocaleString()} rows` : 'row'}`,
      run: props.onDeleteRows,
      disabled: props.selectedRows < 1,
    },
    { key: 'add-column', label: '+ Column', run: props.onAddColumn, disabled: false },
    { key: 'add-ai', label: '✦ AI column', run: props.onAddAi, disabled: false },
    { key: 'generate-rows', label: '✦ Generate rows', run: props.onGenerateRows, disabled: false },
    { key: 'add-formula', label: 'ƒ Formula column', run: props.onAddFormula, disabled: false },
  ];

  return (
    <header className="dataset-header">
      <div className="row">
        <h1 className="dataset-title">{dataset.name}</h1>
        <span className="muted" data-testid="row-count">
          {total.toLocaleString()} {filtered ? 'matching ' : ''}rows
          <span className="narrow-hide"> · {columns.length} columns</span>
        </span>
        <span
          className={`stream-state stream-${stream}`}
          role="status"
          title="Live updates from the server"
        >
          {STREAM_LABELS[stream]}
        </span>
        <span className="spacer" />
        <Menu label="Dataset ▾" className="menu-button">
          {!readOnly && (
            <button type="button" role="menuitem" onClick={() => setRenaming(true)}>
              Rename…
            </button>
          )}
          {!readOnly && (
            <button
              type="button"
              role="menuitem"
              onClick={() =>
                void sheetApi.duplicate(projectId, dataset.id).then(() => {
                  notices.info('Copy created; find it in the datasets list.');
                  void queryClient.invalidateQueries({ queryKey: ['datasets', projectId] });
                }, notices.error)
              }
            >
              Duplicate
            </button>
          )}
          {!readOnly && (
            <button type="button" role="menuitem" className="danger" onClick={remove}>
              Delete dataset…
            </button>
          )}
        </Menu>
        <ExportMenu projectId={projectId} datasetId={dataset.id} />
      </div>
      <div className="row toolbar" role="toolbar" aria-label="Dataset tools">
        <label className="search">
          <span className="visually-hidden">Search rows</span>
          <input
            type="search"
            placeholder="Search rows…"
            value={search}
            maxLength={1000}
            onChange={(event) => setSearch(event.target.value)}
          />
        </label>
        {filters.map((filter, index) => (
          <span key={JSON.stringify(filter)} className="chip">
            {describeFilter(filter, columns)}
            <button
              type="button"
              className="icon-button"
              aria-label={`Remove filter ${describeFilter(filter, columns)}`}
              onClick={() => props.onRemoveFilter(index)}
            >
              ×
            </button>
          </span>
        ))}
        {hidden.length > 0 && (
          <Menu label={`${hidden.length} hidden ▾`} className="menu-button">
            {hidden.map((column) => (
              <button
                key={column.id}
                type="button"
                role="menuitem"
                onClick={() => props.onShowColumn(column)}
              >
                Show {column.name}
              </button>
            ))}
          </Menu>
        )}
        <Menu
          label={props.savedViews?.label ?? 'View ▾'}
          {...(props.savedViews?.ariaLabel ? { ariaLabel: props.savedViews.ariaLabel } : {})}
          className="menu-button"
        >
          <button type="button" role="menuitem" onClick={props.onOpenColumns}>
            Columns…
          </button>
          <button type="button" role="menuitem" onClick={props.onOpenRecord}>
            Record view (row as a form)
          </button>
          {DENSITIES.map((density) => (
            <button
              key={density.value}
              type="button"
              role="menuitem"
              aria-current={props.density === density.value || undefined}
              onClick={() => props.onDensity(density.value)}
            >
              {density.label}
              {props.density === density.value ? ' ✓' : ''}
            </button>
          ))}
          {props.savedViews?.items}
        </Menu>
        {props.savedViews?.dialog}
        <span className="spacer" />
        {!readOnly && (
          <>
            {/* Wide screens show every action; narrow ones (CSS) one "Actions" menu instead. */}
            <div className="toolbar-group wide-only">
              {actions.map((action) => (
                <button
                  key={action.key}
                  type="button"
                  onClick={action.run}
                  disabled={action.disabled}
                >
                  {action.label}
                </button>
              ))}
            </div>
            <Menu label="Actions ▾" className="menu-button narrow-only">
              {actions.map((action) => (
                <button
                  key={action.key}
                  type="button"
                  role="menuitem"
                  onClick={action.run}
                  disabled={action.disabled}
                >
                  {action.label}
                </button>
              ))}
            </Menu>
          </>
        )}
        <button type="button" onClick={props.onToggleSql}>
          SQL
        </button>
      </div>
      <Dialog open={renaming} title="Rename dataset" onClose={() => setRenaming(false)}>
        <form
          className="stack"
          onSubmit={(event) => {
            event.preventDefault();
            const name = String(new FormData(event.currentTarget).get('name'));
            void sheetApi.rename(projectId, dataset.id, name).then(() => {
              setRenaming(false);
              void queryClient.invalidateQueries({ queryKey: ['dataset', projectId, dataset.id] });
            }, setRenameError);
          }}
        >
          <label>
            Name
            <input name="name" defaultValue={dataset.name} required maxLength={200} />
          </label>
          <FormError error={renameError} />
          <div className="dialog-actions">
            <button type="submit" className="primary">
              Rename
            </button>
          </div>
        </form>
      </Dialog>
    </header>
  );
}
