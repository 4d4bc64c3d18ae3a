import type { Column } from '../api/sheet-api.ts';

/**
 * Starting points for a new AI column, the ones AI Sheets users know: a prompt, an output type
 * and a name, filled in from the dataset's columns (the first image column for the image
 * presets, the first text column for the others). Everything stays editable.
 */
export const COLUMN_PRESETS = [
  { id: 'describe', label: 'Describe image' },
  { id: 'extract-text', label: 'Extract text' },
  { id: 'classify', label: 'Classify' },
  { id: 'summarize', label: 'Summarize' },
  { id: 'translate', label: 'Translate' },
  { id: 'generate-image', label: 'Generate image' },
] as const;
export type ColumnPresetId = (typeof COLUMN_PRESETS)[number]['id'];

export interface PresetDraft {
  name: string;
  prompt: string;
  outputType: 'text' | 'category' | 'image';
  categories: string;
  imageSize: string;
}

/** `{{Name}}` for a column (names are data: braces in them are kept as they are). */
const reference = (column: Pick<Column, 'name'> | undefined, fallback: string) =>
  `{{${column?.name ?? fallback}}}`;

export function presetDraft(
  preset: ColumnPresetId,
  columns: readonly Pick<Column, 'name' | 'type'>[],
): PresetDraft {
  const image = columns.find((column) => column.type === 'image');
  const text = columns.find((column) => column.type === 'text');
  const base = { outputType: 'text' as const, categories: '', imageSize: '' };
  switch (preset) {
    case 'describe':
      return {
        ...base,
        name: 'Description',
        prompt: `Describe ${reference(image, 'Image')} in one or two sentences.`,
      };
    case 'extract-text':
      return {
        ...base,
        name: 'Text',
        prompt: `Extract the text in ${reference(image, 'Image')}, as written. Answer NONE if there is none.`,
      };
    case 'classify':
      return {
        ...base,
        name: 'Category',
        outputType: 'category',
        categories: 'cat\ndog\nother',
        prompt: `Which of these is ${reference(image ?? text, 'Image')}?`,
      };
    case 'summarize':
      return {
        ...base,
        name: 'Summary',
        prompt: `Summarize ${reference(text, 'Text')} in one sentence.`,
      };
    case 'translate':
      return {
        ...base,
        name: 'Translation',
        prompt: `Translate ${reference(text, 'Text')} into English. Answer with the translation only.`,
      };
    case 'generate-image':
      return {
        ...base,
        name: 'Picture',
        outputType: 'image',
        imageSize: '1024x1024',
        prompt: `An illustration of ${reference(text, 'Text')}, simple and clear.`,
      };
  }
}
