import { createContext, type ReactNode, useCallback, useContext, useMemo, useState } from 'react';
import { describeError } from '../api/api-error.ts';

interface Notice {
  id: number;
  kind: 'error' | 'info';
  text: string;
}

interface Notices {
  error(error: unknown): void;
  info(text: string): void;
}

const NoticeContext = createContext<Notices>({ error: () => {}, info: () => {} });

export const useNotices = () => useContext(NoticeContext);

let nextId = 1;

/** Error and info messages in a corner, as text; errors stay until dismissed. */
export function NoticeProvider({ children }: { children: ReactNode }) {
  const [notices, setNotices] = useState<Notice[]>([]);
  const dismiss = useCallback(
    (id: number) => setNotices((all) => all.filter((notice) => notice.id !== id)),
    [],
  );
  const push = useCallback(
    (kind: Notice['kind'], text: string) => {
      const id = nextId++;
      setNotices((all) => [...all.slice(-4), { id, kind, text }]);
      if (kind === 'info') window.setTimeout(() => dismiss(id), 5000);
    },
    [dismiss],
  );
  const value = useMemo<Notices>(
    () => ({
      error: (error) => push('error', describeError(error)),
      info: (text) => push('info', text),
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
