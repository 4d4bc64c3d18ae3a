import { type FormEvent, useState } from 'react';
import type { CellStatus, Column, Filter } from '../api/sheet-api.ts';
import { Dialog } from '../ui/dialog.tsx';
import { FormError } from '../ui/form-error.tsx';
import { ParseError, textToValue } from './clipboard-text.ts';

type Op = Filter['op'];
const OPS: { op: Op; label: string }[] = [
  { op: 'contains', label: 'contains' },
  { op: 'equals', label: 'equals' },
  { op: 'range', label: 'is between' },
  { op: 'empty', label: 'is empty' },
  { op: 'not-empty', label: 'is not empty' },
  { op: 'status', label: 'has status' },
];
const STATUSES: CellStatus[] = ['pending', 'generating', 'done', 'error', 'stale'];

export function describeFilter(filter: Filter, columns: readonly Column[]): string {
  const name = columns.find((column) => column.id === filter.columnId)?.name ?? '?';
  switch (filter.op) {
    case 'contains':
      return `${name} contains “${filter.value}”`;
    case 'equals':
      return `${name} = ${JSON.stringify(filter.value)}`;
    case 'empty':
      return `${name} is empty`;
    case 'not-empty':
      return `${name} is not empty`;
    case 'range':
      return `${name} between ${filter.min ?? '…'} and ${filter.max ?? '…'}`;
    case 'status':
      return `${name} is ${filter.values.join(' or ')}`;
  }
}

interface FilterDialogProps {
  column: Column | undefined;
  onClose(): void;
  onAdd(filter: Filter): void;
}

export function FilterDialog({ column, onClose, onAdd }: FilterDialogProps) {
  const [op, setOp] = useState<Op>('contains');
  const [error, setError] = useState<unknown>();
  const numeric = column?.type === 'integer' || column?.type === 'number';

  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    if (!column) return;
    const form = new FormData(event.currentTarget);
    const text = String(form.get('value') ?? '');
    try {
      const bound = (raw: FormDataEntryValue | null) => {
        const value = String(raw ?? '').trim();
        if (!value) return undefined;
        return numeric ? Number(value) : value;
      };
      let filter: Filter;
      if (op === 'contains') filter = { columnId: column.id, op, value: text };
      else if (op === 'equals')
        filter = { columnId: column.id, op, value: textToValue(text, column.type) };
      else if (op === 'range') {
        const min = bound(form.get('min'));
        const max = bound(form.get('max'));
        filter = {
          columnId: column.id,
          op,
          ...(min === undefined ? {} : { min }),
          ...(max === undefined ? {} : { max }),
        };
      } else if (op === 'status') {
        const values = form.getAll('status').map(String) as CellStatus[];
        if (values.length === 0) throw new ParseError('Choose at least one status');
        filter = { columnId: column.id, op, values };
      } else filter = { columnId: column.id, op };
      onAdd(filter);
      onClose();
    } catch (caught) {
      setError(caught);
    }
  };

  return (
    <Dialog
      open={column !== undefined}
      title={column ? `Filter ${column.name}` : 'Filter'}
      onClose={onClose}
    >
      {column && (
        <form className="stack" onSubmit={submit}>
          <label>
            Condition
            <select value={op} onChange={(event) => setOp(event.target.value as Op)}>
              {OPS.map((option) => (
                <option key={option.op} value={option.op}>
                  {option.label}
                </option>
              ))}
            </select>
          </label>
          {(op === 'contains' || op === 'equals') && (
            <label>
              Value
              <input name="value" maxLength={1000} />
            </label>
          )}
          {op === 'range' && (
            <div className="row">
              <label>
                From
                <input name="min" type={numeric ? 'number' : 'text'} step="any" />
              </label>
              <label>
                To
                <input name="max" type={numeric ? 'number' : 'text'} step="any" />
              </label>
            </div>
          )}
          {op === 'status' && (
            <fieldset className="row">
              <legend>Status</legend>
              {STATUSES.map((status) => (
                <label key={status} className="checkbox">
                  <input type="checkbox" name="status" value={status} /> {status}
                </label>
              ))}
            </fieldset>
          )}
          <FormError error={error} />
          <div className="dialog-actions">
            <button type="button" onClick={onClose}>
              Cancel
            </button>
            <button type="submit" className="primary">
              Apply filter
            </button>
          </div>
        </form>
      )}
    </Dialog>
  );
}
