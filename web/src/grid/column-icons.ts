import type { ColumnKind, ColumnType } from '../api/sheet-api.ts';

export const TYPE_ICONS: Record<ColumnType, { icon: string; label: string }> = {
  text: { icon: 'T', label: 'Text' },
  integer: { icon: '#', label: 'Whole number' },
  number: { icon: '1.5', label: 'Number' },
  boolean: { icon: '✓', label: 'True / false' },
  date: { icon: '📅', label: 'Date' },
  timestamp: { icon: '⏱', label: 'Date and time' },
  json: { icon: '{}', label: 'JSON' },
  image: { icon: '🖼', label: 'Image' },
};

export const KIND_ICONS: Record<ColumnKind, { icon: string; label: string } | undefined> = {
  static: undefined,
  formula: { icon: 'ƒ', label: 'Formula column' },
  ai: { icon: '✦', label: 'AI column' },
};
