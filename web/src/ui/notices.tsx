import { createContext, type ReactNode, useCallback, useContext, useMemo, useState } from 'react';
import { describeError } from '../api/api-error.ts';

/** A button in a notice ("Undo"); clicking it runs `run` and dismisses the notice. */
export interface NoticeAction {
  label: string;
  run(): void;
}

interface Notice {
  id: number;
  kind: 'error' | 'info';
  text: string;
  action?: NoticeAction;
}

interface Notices {
  error(error: unknown): void;
  info(text: string, action?: NoticeAction): void;
}

const NoticeContext = createContext<Notices>({ error: () => {}, info: () => {} });

export const useNotices = () => useContext(NoticeContext);

let nextId = 1;

/** Info messages stay this long; one with an action (Undo) longer, so it can be reached. */
const INFO_MS = 5_000;
const ACTION_MS = 15_000;

/** Error and info messages in a corner, as text; errors stay until dismissed. */
export function NoticeProvider({ children }: { children: ReactNode }) {
  const [notices, setNotices] = useState<Notice[]>([]);
  const dismiss = useCallback(
    (id: number) => setNotices((all) => all.filter((notice) => notice.id !== id)),
    [],
  );
  const push = useCallback(
    (kind: Notice['kind'], text: string, action?: NoticeAction) => {
      const id = nextId++;
      // One action toast at a time: an older "Undo" would no longer undo the latest change.
      setNotices((all) => [
        ...(action ? all.filter((notice) => !notice.action) : all).slice(-4),
        { id, kind, text, ...(action ? { action } : {}) },
      ]);
      if (kind === 'info') window.setTimeout(() => dismiss(id), action ? ACTION_MS : INFO_MS);
    },
    [dismiss],
  );
  const value = useMemo<Notices>(
    () => ({
      error: (error) => push('error', describeError(error)),
      info: (text, action) => push('info', text, action),
    }),
    [push],
  );
  return (
    <NoticeContext.Provider value={value}>
      {children}
      <div className="notices">
        {notices.map((notice) => (
          <div
            key={notice.id}
            className={`notice notice-${notice.kind}`}
            role={notice.kind === 'error' ? 'alert' : 'status'}
          >
            <span>{notice.text}</span>
            {notice.action && (
              <button
                type="button"
                className="notice-action"
                onClick={() => {
                  dismiss(notice.id);
                  notice.action?.run();
                }}
              >
                {notice.action.label}
              </button>
            )}
            <button
              type="button"
              className="icon-button"
              aria-label="Dismiss"
              onClick={() => dismiss(notice.id)}
            >
              ×
            </button>
          </div>
        ))}
      </div>
    </NoticeContext.Provider>
  );
}
