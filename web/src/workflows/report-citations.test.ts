import { describe, expect, it } from 'vitest';
import { citationHref, citationText, parseCitation } from './report-citations.ts';

const DOC = '0190f3a0-1234-7abc-8def-0123456789ab';
const SET = '0190f3a0-5678-7abc-8def-0123456789ab';
const PROJECT = '0190f3a0-9999-7abc-8def-0123456789ab';

describe('report citations', () => {
  it.each([
    [`doc:${DOC}#p3`, { kind: 'doc', documentId: DOC, page: 3, label: undefined }],
    [`doc:${DOC}#page=12`, { kind: 'doc', documentId: DOC, page: 12, label: undefined }],
    [`doc:${DOC}`, { kind: 'doc', documentId: DOC, page: undefined, label: undefined }],
    [
      `doc:${DOC.toUpperCase()}#p1|Invoice 7`,
      { kind: 'doc', documentId: DOC, page: 1, label: 'Invoice 7' },
    ],
    [`row:${SET}/42`, { kind: 'row', datasetId: SET, rowId: '42', label: undefined }],
    [`row:${SET}#42| the row `, { kind: 'row', datasetId: SET, rowId: '42', label: 'the row' }],
  ])('reads [[%s]]', (inner, expected) => {
    expect(parseCitation(inner)).toEqual(expected);
  });

  it.each([
    'doc:not-a-uuid#p1',
    `doc:${DOC}#p1x`,
    `row:${SET}/-1`,
    `row:${SET}`,
    `sheet:${SET}/1`,
    'javascript:alert(1)',
    `doc:${DOC}" onclick="x`,
    'footnote 3',
    '',
  ])('leaves [[%s]] as text', (inner) => {
    expect(parseCitation(inner)).toBeUndefined();
  });

  it('links documents to the documents page viewer and rows to their dataset', () => {
    expect(citationHref(PROJECT, parseCitation(`doc:${DOC}#p3`)!)).toBe(
      `/projects/${PROJECT}/documents?document=${DOC}&page=3`,
    );
    expect(citationHref(PROJECT, parseCitation(`doc:${DOC}`)!)).toBe(
      `/projects/${PROJECT}/documents?document=${DOC}`,
    );
    expect(citationHref(PROJECT, parseCitation(`row:${SET}/9`)!)).toBe(
      `/projects/${PROJECT}/datasets/${SET}?row=9`,
    );
  });

  it('shows the label, else what is cited', () => {
    expect(citationText(parseCitation(`doc:${DOC}#p3`)!)).toBe('document, p. 3');
    expect(citationText(parseCitation(`doc:${DOC}|Receipt`)!)).toBe('Receipt');
    expect(citationText(parseCitation(`row:${SET}/9`)!)).toBe('row 9');
  });
});
