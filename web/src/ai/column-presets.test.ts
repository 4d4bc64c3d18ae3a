import { describe, expect, it } from 'vitest';
import { COLUMN_PRESETS, presetDraft } from './column-presets.ts';

const columns = [
  { name: 'Notes', type: 'text' as const },
  { name: 'Photo', type: 'image' as const },
];

describe('column presets', () => {
  it('point image presets at the first image column and text presets at the first text column', () => {
    expect(presetDraft('describe', columns).prompt).toContain('{{Photo}}');
    expect(presetDraft('extract-text', columns).prompt).toContain('{{Photo}}');
    expect(presetDraft('classify', columns)).toMatchObject({
      outputType: 'category',
      categories: 'cat\ndog\nother',
    });
    expect(presetDraft('summarize', columns).prompt).toContain('{{Notes}}');
    expect(presetDraft('generate-image', columns)).toMatchObject({
      outputType: 'image',
      imageSize: '1024x1024',
      prompt: expect.stringContaining('{{Notes}}'),
    });
  });

  it('gives every preset a name and a prompt even with no columns to point at', () => {
    for (const preset of COLUMN_PRESETS) {
      const draft = presetDraft(preset.id, []);
      expect(draft.name).not.toBe('');
      expect(draft.prompt).toMatch(/\{\{\w+\}\}/);
    }
  });
});
