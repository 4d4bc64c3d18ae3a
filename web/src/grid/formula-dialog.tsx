import { useMutation } from '@tanstack/react-query';
import { type FormEvent, useEffect, useState } from 'react';
import { COLUMN_TYPES, type Column, type ColumnType, sheetApi } from '../api/sheet-api.ts';
import { Dialog } from '../ui/dialog.tsx';
import { FormError } from '../ui/form-error.tsx';
import { TemplateEditor } from '../ui/template-editor.tsx';

interface FormulaDialogProps {
  open: boolean;
  projectId: string;
  datasetId: string;
  columns: readonly Column[];
  /** Editing an existing formula column; absent to add one. */
  editing?: Column;
  onClose(): void;
  onSaved(column: Column): void;
}

/** A formula column: a DuckDB expression over other columns written as {{Column Name}}. */
export function FormulaDialog({
  open,
  projectId,
  datasetId,
  columns,
  editing,
  onClose,
  onSaved,
}: FormulaDialogProps) {
  const [formula, setFormula] = useState('');
  const [name, setName] = useState('');
  const [type, setType] = useState<ColumnType>('text');
  useEffect(() => {
    if (!open) return;
    setFormula(editing?.formula ?? '');
    setName(editing?.name ?? '');
    setType(editing?.type ?? 'text');
  }, [open, editing]);

  const save = useMutation({
    mutationFn: () =>
      editing
        ? sheetApi.updateColumn(projectId, datasetId, editing.id, {
            formula,
            ...(name !== editing.name ? { name } : {}),
          })
        : sheetApi.addColumn(projectId, datasetId, { name, type, formula }),
    onSuccess: (column) => {
      onSaved(column);
      onClose();
    },
  });

  const submit = (event: FormEvent) => {
    event.preventDefault();
    save.mutate();
  };

  const names = columns.filter((column) => column.id !== editing?.id).map((column) => column.name);
  return (
    <Dialog
      open={open}
      title={editing ? `Formula of ${editing.name}` : 'New formula column'}
      onClose={onClose}
      wide
    >
      <form className="stack" onSubmit={submit}>
        <div className="row">
          <label>
            Column name
            <input
              value={name}
              onChange={(event) => setName(event.target.value)}
              required
              maxLength={200}
            />
          </label>
          {!editing && (
            <label>
              Type
              <select value={type} onChange={(event) => setType(event.target.value as ColumnType)}>
                {COLUMN_TYPES.map((option) => (
                  <option key={option} value={option}>
                    {option}
                  </option>
                ))}
              </select>
            </label>
          )}
        </div>
        <TemplateEditor
          label="Formula"
          value={formula}
          onChange={setFormula}
          names={names}
          rows={4}
          maxLength={4000}
          placeholder="e.g. upper({{Title}}) or {{Price}} * {{Quantity}}"
        />
        <p className="muted">
          A SQL expression (DuckDB) evaluated for every row and recomputed when its inputs change.
          Functions such as upper, lower, length, round, coalesce, regexp_extract and CASE WHEN …
          END work here.
        </p>
        <FormError error={save.error} />
        <div className="dialog-actions">
          <button type="button" onClick={onClose}>
            Cancel
          </button>
          <button
            type="submit"
            className="primary"
            disabled={save.isPending || !formula.trim() || !name.trim()}
          >
            {editing ? 'Save formula' : 'Add column'}
          </button>
        </div>
      </form>
    </Dialog>
  );
}
