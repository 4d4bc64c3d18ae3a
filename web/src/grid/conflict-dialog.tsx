import type { Cell, CellValue } from '../api/sheet-api.ts';
import { Dialog } from '../ui/dialog.tsx';
import { formatDateTime } from '../ui/format.ts';
import { valueToText } from './clipboard-text.ts';

export interface Conflict {
  columnName: string;
  rowOrdinal: number;
  mine: CellValue;
  theirs: Cell;
}

interface ConflictDialogProps {
  conflict: Conflict | undefined;
  onKeepTheirs(): void;
  onUseMine(): void;
  onClose(): void;
}

/** A save refused because the cell changed meanwhile (409): both values, side by side, as text. */
export function ConflictDialog({
  conflict,
  onKeepTheirs,
  onUseMine,
  onClose,
}: ConflictDialogProps) {
  return (
    <Dialog
      open={conflict !== undefined}
      title="This cell changed while you were editing"
      onClose={onClose}
      wide
    >
      {conflict && (
        <div className="stack" data-testid="conflict-dialog">
          <p>
            Row {conflict.rowOrdinal}, column “{conflict.columnName}” was changed
            {conflict.theirs.updatedAt ? ` at ${formatDateTime(conflict.theirs.updatedAt)}` : ''}{' '}
            before your edit was saved. Choose which value to keep.
          </p>
          <div className="conflict-grid">
            <section>
              <h3>Your value</h3>
              <pre className="cell-text" data-testid="conflict-mine">
                {valueToText(conflict.mine)}
              </pre>
            </section>
            <section>
              <h3>Their value</h3>
              <pre className="cell-text" data-testid="conflict-theirs">
                {valueToText(conflict.theirs.value)}
              </pre>
            </section>
          </div>
          <div className="dialog-actions">
            <button type="button" onClick={onKeepTheirs}>
              Keep theirs
            </button>
            <button type="button" className="primary" onClick={onUseMine}>
              Use mine
            </button>
          </div>
        </div>
      )}
    </Dialog>
  );
}
