import { describe, expect, it } from 'vitest';
import { openReference } from './template-reference.ts';

describe('openReference', () => {
  it('finds the reference being typed before the caret', () => {
    expect(openReference('Summarize {{Tit', 15)).toEqual({ start: 10, query: 'Tit' });
    expect(openReference('{{', 2)).toEqual({ start: 0, query: '' });
  });

  it('ignores closed references and other lines', () => {
    expect(openReference('{{Title}} and', 13)).toBeUndefined();
    expect(openReference('{{Title\nnext', 12)).toBeUndefined();
    expect(openReference('no braces', 9)).toBeUndefined();
  });
});
