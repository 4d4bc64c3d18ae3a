import { useCallback, useState } from 'react';

/** Per-dataset view settings a user keeps in this browser: widths, renderer toggles, row height. */
export interface ViewPrefs {
  widths: Record<string, number>;
  /** Text columns shown as sanitized markdown. */
  markdown: Record<string, boolean>;
  /** URL columns shown as image thumbnails (off: the URL as text). */
  images: Record<string, boolean>;
  /** Text columns shown as an HTML preview in a sandboxed frame (absent in older prefs). */
  html?: Record<string, boolean>;
  /** Row height: compact, comfortable (the default) or wrapped (long values on several lines). */
  density?: Density;
}

export type Density = 'compact' | 'comfortable' | 'wrapped';
/** Row heights in pixels: every row of a view has the same height, so virtualization holds. */
export const ROW_HEIGHTS: Record<Density, number> = { compact: 26, comfortable: 34, wrapped: 96 };

const EMPTY: ViewPrefs = { widths: {}, markdown: {}, images: {} };
const key = (datasetId: string) => `braincells.view.${datasetId}`;

function load(datasetId: string): ViewPrefs {
  try {
    const parsed = JSON.parse(
      localStorage.getItem(key(datasetId)) ?? 'null',
    ) as Partial<ViewPrefs> | null;
    return { ...EMPTY, ...(parsed ?? {}) };
  } catch {
    return EMPTY;
  }
}

export function useViewPrefs(datasetId: string) {
  const [prefs, setPrefs] = useState<ViewPrefs>(() => load(datasetId));
  const update = useCallback(
    (change: (previous: ViewPrefs) => ViewPrefs) => {
      setPrefs((previous) => {
        const next = change(previous);
        localStorage.setItem(key(datasetId), JSON.stringify(next));
        return next;
      });
    },
    [datasetId],
  );
  return [prefs, update] as const;
}

export const DEFAULT_WIDTH = 180;
export const MIN_WIDTH = 60;
export const MAX_WIDTH = 1200;
