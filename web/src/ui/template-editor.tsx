import { type KeyboardEvent, useId, useRef, useState } from 'react';
import { openReference } from './template-reference.ts';

interface TemplateEditorProps {
  value: string;
  onChange(value: string): void;
  /** Names offered after `{{`. */
  names: readonly string[];
  label: string;
  rows?: number;
  placeholder?: string;
  maxLength?: number;
  name?: string;
}

/**
 * A textarea for prompts and formulas that offers column names after `{{` (ARIA combobox:
 * arrows choose, Enter or Tab inserts `{{Name}}`, Escape closes).
 */
export function TemplateEditor({
  value,
  onChange,
  names,
  label,
  rows = 5,
  placeholder,
  maxLength,
  name,
}: TemplateEditorProps) {
  const id = useId();
  const ref = useRef<HTMLTextAreaElement>(null);
  const [open, setOpen] = useState<{ start: number; query: string } | undefined>();
  const [active, setActive] = useState(0);

  const matches = open
    ? names
        .filter((candidate) => candidate.toLowerCase().includes(open.query.toLowerCase()))
        .slice(0, 20)
    : [];

  const refresh = (text: string, caret: number) => {
    const reference = openReference(text, caret);
    setOpen(reference);
    setActive(0);
  };

  const insert = (chosen: string) => {
    const element = ref.current;
    if (!element || !open) return;
    const caret = element.selectionStart;
    const after = value.slice(caret).startsWith('}}') ? value.slice(caret + 2) : value.slice(caret);
    const next = `${value.slice(0, open.start)}{{${chosen}}}${after}`;
    onChange(next);
    setOpen(undefined);
    const position = open.start + chosen.length + 4;
    requestAnimationFrame(() => element.setSelectionRange(position, position));
  };

  const onKeyDown = (event: KeyboardEvent<HTMLTextAreaElement>) => {
    if (!open || matches.length === 0) return;
    if (event.key === 'ArrowDown') setActive((index) => (index + 1) % matches.length);
    else if (event.key === 'ArrowUp')
      setActive((index) => (index - 1 + matches.length) % matches.length);
    else if (event.key === 'Enter' || event.key === 'Tab') insert(matches[active]!);
    else if (event.key === 'Escape') setOpen(undefined);
    else return;
    event.preventDefault();
    event.stopPropagation();
  };

  const expanded = open !== undefined && matches.length > 0;
  return (
    <div className="template-editor">
      <label htmlFor={`${id}-input`}>{label}</label>
      <textarea
        id={`${id}-input`}
        ref={ref}
        name={name}
        role="combobox"
        aria-expanded={expanded}
        aria-controls={`${id}-list`}
        aria-autocomplete="list"
        aria-activedescendant={expanded ? `${id}-option-${active}` : undefined}
        value={value}
        rows={rows}
        maxLength={maxLength}
        placeholder={placeholder}
        spellCheck={false}
        onChange={(event) => {
          onChange(event.target.value);
          refresh(event.target.value, event.target.selectionStart);
        }}
        onKeyDown={onKeyDown}
        onClick={(event) => refresh(event.currentTarget.value, event.currentTarget.selectionStart)}
        onBlur={() => setOpen(undefined)}
      />
      <div
        id={`${id}-list`}
        role="listbox"
        className="autocomplete-list"
        hidden={!expanded}
        aria-label="Columns"
      >
        {matches.map((match, index) => (
          <div
            key={match}
            id={`${id}-option-${index}`}
            role="option"
            aria-selected={index === active}
            className={index === active ? 'active' : undefined}
            onMouseDown={(event) => {
              event.preventDefault();
              insert(match);
            }}
          >
            {match}
          </div>
        ))}
      </div>
      <p className="muted hint">Type {'{{'} to insert a column.</p>
    </div>
  );
}
