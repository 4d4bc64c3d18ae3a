import {
  createContext,
  type ReactNode,
  useCallback,
  useContext,
  useMemo,
  useRef,
  useState,
} from 'react';

interface Announcer {
  /** Polite by default; use it for progress summaries, never for every cell. */
  announce(message: string, politeness?: 'polite' | 'assertive'): void;
}

const AnnouncerContext = createContext<Announcer>({ announce: () => {} });

export const useAnnouncer = () => useContext(AnnouncerContext);

/** One ARIA live region for the app. Repeated announcements are throttled to one per second. */
export function LiveRegionProvider({ children }: { children: ReactNode }) {
  const [polite, setPolite] = useState('');
  const [assertive, setAssertive] = useState('');
  const lastAt = useRef(0);
  const pending = useRef<number | undefined>(undefined);

  const announce = useCallback((message: string, politeness: 'polite' | 'assertive' = 'polite') => {
    if (politeness === 'assertive') {
      setAssertive(message);
      return;
    }
    const wait = Math.max(0, 1000 - (Date.now() - lastAt.current));
    window.clearTimeout(pending.current);
    pending.current = window.setTimeout(() => {
      lastAt.current = Date.now();
      setPolite(message);
    }, wait);
  }, []);

  const value = useMemo(() => ({ announce }), [announce]);
  return (
    <AnnouncerContext.Provider value={value}>
      {children}
      <div
        className="visually-hidden"
        aria-live="polite"
        aria-atomic="true"
        data-testid="live-region"
      >
        {polite}
      </div>
      <div className="visually-hidden" aria-live="assertive" aria-atomic="true">
        {assertive}
      </div>
    </AnnouncerContext.Provider>
  );
}
