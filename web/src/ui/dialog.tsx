import { type ReactNode, useEffect, useRef } from 'react';

interface DialogProps {
  open: boolean;
  title: string;
  onClose: () => void;
  children: ReactNode;
  /** Wide dialogs (SQL results, conflicts). */
  wide?: boolean;
  /** An element inside to focus first (defaults to the first focusable one). */
  initialFocus?: string;
}

/**
 * A modal on the native <dialog>: showModal() makes the rest of the page inert and traps
 * focus, Escape closes it, and focus returns to whatever opened it.
 */
export function Dialog({ open, title, onClose, children, wide, initialFocus }: DialogProps) {
  const ref = useRef<HTMLDialogElement>(null);
  const opener = useRef<Element | null>(null);
  const titleId = useRef(`dialog-${Math.random().toString(36).slice(2)}`);

  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (open && !dialog.open) {
      opener.current = document.activeElement;
      dialog.showModal();
      const target = initialFocus ? dialog.querySelector<HTMLElement>(initialFocus) : null;
      (
        target ??
        dialog.querySelector<HTMLElement>(
          '[autofocus], input:not([type=hidden]), textarea, select, button:not(.dialog-close)',
        )
      )?.focus();
    } else if (!open && dialog.open) {
      dialog.close();
    }
  }, [open, initialFocus]);

  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    const handleClose = () => {
      const previous = opener.current;
      if (previous instanceof HTMLElement && previous.isConnected) previous.focus();
      onClose();
    };
    dialog.addEventListener('close', handleClose);
    return () => dialog.removeEventListener('close', handleClose);
  }, [onClose]);

  return (
    <dialog
      ref={ref}
      className={wide ? 'dialog dialog-wide' : 'dialog'}
      aria-labelledby={titleId.current}
    >
      {open && (
        <>
          <header className="dialog-header">
            <h2 id={titleId.current}>{title}</h2>
            <button
              type="button"
              className="dialog-close icon-button"
              aria-label="Close"
              onClick={() => ref.current?.close()}
            >
              ×
            </button>
          </header>
          <div className="dialog-body">{children}</div>
        </>
      )}
    </dialog>
  );
}
