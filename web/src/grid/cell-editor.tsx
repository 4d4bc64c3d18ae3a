import { type KeyboardEvent, useEffect, useRef, useState } from 'react';
import type { ColumnType } from '../api/sheet-api.ts';
import { ParseError, textToValue } from './clipboard-text.ts';

interface CellEditorProps {
  initialText: string;
  type: ColumnType;
  left: number;
  top: number;
  width: number;
  /** Resolves when saved; rejects (with a message shown) to keep editing. */
  onCommit(value: ReturnType<typeof textToValue>, move: 'down' | 'right' | 'none'): Promise<void>;
  onCancel(): void;
}

/**
 * In-place editor over a cell. Enter saves and moves down, Tab saves and moves right,
 * Shift+Enter adds a line (text and JSON), Escape cancels. A value the column type cannot
 * hold is refused here, before any request.
 */
export function CellEditor({
  initialText,
  type,
  left,
  top,
  width,
  onCommit,
  onCancel,
}: CellEditorProps) {
  const [text, setText] = useState(initialText);
  const [error, setError] = useState<string>();
  const [saving, setSaving] = useState(false);
  const ref = useRef<HTMLTextAreaElement>(null);
  const busy = useRef(false);
  // Escape unmounts the editor and moves focus to the grid; the blur that follows must not save.
  const cancelled = useRef(false);

  useEffect(() => {
    const element = ref.current;
    if (!element) return;
    element.focus();
    element.setSelectionRange(element.value.length, element.value.length);
  }, []);

  const commit = async (move: 'down' | 'right' | 'none') => {
    let value: ReturnType<typeof textToValue>;
    try {
      value = textToValue(text, type);
    } catch (caught) {
      setError(caught instanceof ParseError ? caught.message : String(caught));
      return;
    }
    if (busy.current || cancelled.current) return;
    busy.current = true;
    setSaving(true);
    try {
      await onCommit(value, move);
    } catch (caught) {
      setError(caught instanceof Error ? caught.message : String(caught));
      setSaving(false);
      busy.current = false;
    }
  };

  const onKeyDown = (event: KeyboardEvent<HTMLTextAreaElement>) => {
    event.stopPropagation();
    if (event.key === 'Escape') {
      event.preventDefault();
      cancelled.current = true;
      onCancel();
    } else if (event.key === 'Enter' && !event.shiftKey && !event.altKey) {
      event.preventDefault();
      void commit('down');
    } else if (event.key === 'Tab') {
      event.preventDefault();
      void commit('right');
    }
  };

  const lines = Math.min(8, Math.max(1, text.split('\n').length));
  return (
    <div className="cell-editor" style={{ left, top, width: Math.max(width, 220) }}>
      <textarea
        ref={ref}
        aria-label="Cell value"
        aria-invalid={error ? true : undefined}
        value={text}
        rows={lines}
        disabled={saving}
        onChange={(event) => {
          setText(event.target.value);
          setError(undefined);
        }}
        onKeyDown={onKeyDown}
        onBlur={(event) => {
          // Leaving the editor for somewhere else in the page saves, like a spreadsheet.
          if (
            !busy.current &&
            !cancelled.current &&
            !event.currentTarget.parentElement?.contains(event.relatedTarget as Node)
          )
            void commit('none');
        }}
        spellCheck={type === 'text'}
      />
      {error && (
        <p className="cell-editor-error" role="alert">
          {error}
        </p>
      )}
      <p className="cell-editor-hint">Enter to save · Shift+Enter for a new line · Esc to cancel</p>
    </div>
  );
}
