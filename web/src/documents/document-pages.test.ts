import { describe, expect, it } from 'vitest';
import { pagesOf } from './document-pages.ts';

describe("a document's pages", () => {
  it.each([
    ['a JSON list in the Page text cell', '["one","two"]', 'one two', ['one', 'two']],
    ['an already parsed list', ['one', null], 'one', ['one', '']],
    ['no page list: the whole text as one page', null, 'all of it', ['all of it']],
    ['a Page text cell that is not JSON', 'not json', 'text', ['text']],
    ['an empty list and no text', '[]', '', []],
    ['nothing at all', undefined, undefined, []],
  ])('%s', (_, pageText, text, pages) => {
    expect(pagesOf(pageText, text)).toEqual(pages);
  });
});
