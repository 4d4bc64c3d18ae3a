import { useMutation } from '@tanstack/react-query';
import type { FormEvent } from 'react';
import { COLUMN_TYPES, type Column, type ColumnType, sheetApi } from '../api/sheet-api.ts';
import { Dialog } from '../ui/dialog.tsx';
import { FormError } from '../ui/form-error.tsx';
import { TYPE_ICONS } from './column-icons.ts';

interface ColumnDialogProps {
  open: boolean;
  projectId: string;
  datasetId: string;
  /** Rename/retype this column; absent to add a new static column. */
  editing?: Column;
  onClose(): void;
  onSaved(column: Column): void;
}

/** Add a column, or rename / change the type of one (values that do not convert are reported per cell). */
export function ColumnDialog({
  open,
  projectId,
  datasetId,
  editing,
  onClose,
  onSaved,
}: ColumnDialogProps) {
  const save = useMutation({
    mutationFn: (input: { name: string; type: ColumnType }) =>
      editing
        ? sheetApi.updateColumn(projectId, datasetId, editing.id, {
            ...(input.name !== editing.name ? { name: input.name } : {}),
            ...(input.type !== editing.type ? { type: input.type } : {}),
          })
        : sheetApi.addColumn(projectId, datasetId, input),
    onSuccess: (column) => {
      onSaved(column);
      onClose();
    },
  });
  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    save.mutate({ name: String(form.get('name')), type: String(form.get('type')) as ColumnType });
  };
  return (
    <Dialog open={open} title={editing ? `Column ${editing.name}` : 'New column'} onClose={onClose}>
      <form className="stack" onSubmit={submit} key={editing?.id ?? 'new'}>
        <label>
          Name
          <input name="name" defaultValue={editing?.name ?? ''} required maxLength={200} />
        </label>
        <label>
          Type
          <select
            name="type"
            defaultValue={editing?.type ?? 'text'}
            disabled={editing?.kind === 'formula'}
          >
            {COLUMN_TYPES.map((type) => (
              <option key={type} value={type}>
                {TYPE_ICONS[type].label}
              </option>
            ))}
          </select>
        </label>
        {editing && (
          <p className="muted">
            Changing the type converts every value; cells that cannot convert keep their text and
            show an error.
          </p>
        )}
        <FormError error={save.error} />
        <div className="dialog-actions">
          <button type="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="primary" disabled={save.isPending}>
            {editing ? 'Save' : 'Add column'}
          </button>
        </div>
      </form>
    </Dialog>
  );
}
