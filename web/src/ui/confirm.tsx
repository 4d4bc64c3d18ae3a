import { createContext, type ReactNode, useCallback, useContext, useRef, useState } from 'react';
import { Dialog } from './dialog.tsx';

export interface ConfirmOptions {
  title: string;
  message: string;
  /** The confirming button's label: say what it does ("Delete 3 rows"), never "OK". */
  confirmLabel: string;
  /** Destructive: the button is red. Cancel is focused first either way. */
  danger?: boolean;
}

type Confirm = (options: ConfirmOptions) => Promise<boolean>;

const ConfirmContext = createContext<Confirm>(async () => false);

/** Asks a yes/no question in the app's own modal (replaces the browser's `confirm()`). */
export const useConfirm = () => useContext(ConfirmContext);

export function ConfirmProvider({ children }: { children: ReactNode }) {
  const [question, setQuestion] = useState<ConfirmOptions>();
  const resolver = useRef<(answer: boolean) => void>(undefined);

  const settle = useCallback((answer: boolean) => {
    const resolve = resolver.current;
    resolver.current = undefined;
    setQuestion(undefined);
    resolve?.(answer);
  }, []);

  const confirm = useCallback<Confirm>(
    (options) =>
      new Promise<boolean>((resolve) => {
        // A second question replaces an unanswered one, which counts as "no".
        resolver.current?.(false);
        resolver.current = resolve;
        setQuestion(options);
      }),
    [],
  );
  const onClose = useCallback(() => settle(false), [settle]);

  return (
    <ConfirmContext.Provider value={confirm}>
      {children}
      <Dialog open={question !== undefined} title={question?.title ?? ''} onClose={onClose}>
        {question && (
          <div className="stack" data-testid="confirm-dialog">
            <p className="confirm-message">{question.message}</p>
            <div className="dialog-actions">
              <button type="button" onClick={() => settle(false)}>
                Cancel
              </button>
              <button
                type="button"
                className={question.danger ? 'primary danger-fill' : 'primary'}
                onClick={() => settle(true)}
              >
                {question.confirmLabel}
              </button>
            </div>
          </div>
        )}
      </Dialog>
    </ConfirmContext.Provider>
  );
}
