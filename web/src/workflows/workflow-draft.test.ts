import { describe, expect, it } from 'vitest';
import type { WorkflowDefinition } from './workflow-api.ts';
import {
  comparisonValue,
  definitionOf,
  draftOf,
  emptyStep,
  fieldPath,
  issuesByField,
  RAW_FIELD,
  schemaOf,
  shownFields,
  stepFieldIssue,
  stepIssue,
} from './workflow-draft.ts';

const SET = '0190f3a0-5678-7abc-8def-0123456789ab';
const SHEET = '0190f3a0-5678-7abc-8def-0123456789ac';

const definition: WorkflowDefinition = {
  description: 'Monthly check',
  inputs: [{ name: 'region', default: 'EU' }, { name: 'month' }],
  steps: [
    { id: 'docs', kind: 'import-documents', datasetId: SET },
    {
      id: 'count',
      kind: 'sql',
      datasetId: SET,
      sql: 'select count(*) as n from dataset',
      retries: 0,
    },
    {
      id: 'check',
      kind: 'branch',
      when: { step: 'count', path: 'rows.0.n', op: 'gt', value: 0 },
      skipIfFalse: ['summary', 'report'],
    },
    {
      id: 'summary',
      kind: 'llm',
      model: 'gpt-4o-mini',
      prompt: 'Sum up {{steps.count}}',
      needs: ['count'],
    },
    {
      id: 'report',
      kind: 'report',
      title: 'Findings',
      markdown: '# {{inputs.region}}',
      timeoutMs: 5000,
    },
  ],
};

describe('workflow drafts', () => {
  it('turns a definition into form fields and back without change', () => {
    const draft = draftOf('Audit', definition);
    expect(draft.steps[2]!.fields['when.path']).toBe('rows.0.n');
    expect(draft.steps[2]!.fields.skipIfFalse).toBe('summary, report');
    expect(definitionOf(draft)).toEqual(definition);
  });

  it('keeps a step kind it has no form for as JSON, and sends it back as it was', () => {
    const future = { id: 'x', kind: 'ocr', languages: ['en'] };
    const draft = draftOf('F', { steps: [future as never] });
    expect(shownFields('ocr')).toEqual([RAW_FIELD]);
    expect(JSON.parse(draft.steps[0]!.fields[RAW_FIELD]!)).toEqual(future);
    expect(definitionOf(draft).steps[0]).toEqual(future);
  });

  it('edits an extract step with its fields as lines, and sends back the same definition', () => {
    const extract = {
      id: 'extract',
      kind: 'extract' as const,
      documentsDatasetId: SET,
      datasetId: SHEET,
      provider: 'fake',
      model: 'gpt-4o-mini',
      schema: {
        type: 'object' as const,
        properties: {
          vendor: { type: 'string' as const, description: 'Who issued it - the seller' },
          'invoice date': { type: 'string' as const, format: 'date' as const },
          total: { type: 'number' as const },
          paid: { type: 'boolean' as const },
        },
      },
      mode: 'all' as const,
      concurrency: 16,
    };
    const draft = draftOf('E', { steps: [extract] });
    expect(draft.steps[0]!.fields.schema).toBe(
      'vendor: string — Who issued it - the seller\ninvoice date: date\ntotal: number\npaid: boolean',
    );
    expect(draft.steps[0]!.fields.concurrency).toBe('16');
    expect(definitionOf(draft).steps[0]).toEqual(extract);
  });

  it('reads field lines leniently and passes an unknown type on for the server to name', () => {
    expect(schemaOf('vendor\n\n  amount : number - in EUR \nwhen: datetime')).toEqual({
      type: 'object',
      properties: {
        vendor: { type: 'string' },
        amount: { type: 'number', description: 'in EUR' },
        when: { type: 'datetime' },
      },
    });
    const step = emptyStep('extract', []);
    expect(schemaOf(step.fields.schema!)).toEqual({
      type: 'object',
      properties: {
        vendor: { type: 'string' },
        date: { type: 'string', format: 'date' },
        total: { type: 'number' },
      },
    });
    step.fields.concurrency = 'many';
    const sent = definitionOf({ name: 'W', description: '', inputs: [], steps: [step] }).steps[0];
    expect(sent).toMatchObject({ kind: 'extract', mode: 'missing', concurrency: 'many' });
    expect(sent).not.toHaveProperty('contextChars');
  });

  it('passes wrong values on for the server to name, and leaves blank numbers out', () => {
    const step = emptyStep('sql', []);
    step.fields.retries = 'three';
    step.fields.timeoutMs = '';
    const sent = definitionOf({ name: 'W', description: '', inputs: [], steps: [step] }).steps[0];
    expect(sent).toEqual({ id: 'sql', kind: 'sql', datasetId: '', sql: '', retries: 'three' });
  });

  it('edits an llm step on an agent, and an export step, and sends back only what is set', () => {
    const AGENT = '0190f3a0-5678-7abc-8def-0123456789ac';
    const steps: WorkflowDefinition['steps'] = [
      { id: 'ask', kind: 'llm', agentId: AGENT, prompt: 'Sum up' },
      { id: 'report', kind: 'report', title: 'T', markdown: '# T' },
      { id: 'file', kind: 'export', reportStep: 'report', format: 'html' },
      { id: 'rows', kind: 'export', datasetId: SET, format: 'parquet' },
    ];
    const draft = draftOf('A', { description: '', inputs: [], steps });
    expect(draft.steps[0]!.fields).toMatchObject({ agentId: AGENT, model: '', provider: '' });
    expect(draft.steps[2]!.fields).toMatchObject({ reportStep: 'report', datasetId: '' });
    expect(shownFields('export')).toEqual([
      'id',
      'name',
      'needs',
      'retries',
      'timeoutMs',
      'datasetId',
      'reportStep',
      'format',
    ]);
    expect(definitionOf(draft).steps).toEqual(steps);

    // An llm step with neither agent nor model goes out without both: the server names `model`.
    const bare = emptyStep('llm', []);
    bare.fields.prompt = 'Hi';
    expect(
      definitionOf({ name: 'B', description: '', inputs: [], steps: [bare] }).steps[0],
    ).toEqual({ id: 'llm', kind: 'llm', prompt: 'Hi' });
    expect(emptyStep('export', []).fields).toEqual({ id: 'export', format: 'csv' });
  });

  it('gives new steps ids not taken yet', () => {
    expect(emptyStep('sql', ['sql', 'sql-2']).fields.id).toBe('sql-3');
    expect(emptyStep('ai-column', []).fields).toEqual({ id: 'extract', mode: 'missing' });
  });

  it.each([
    ['12', 12],
    ['-1.5', -1.5],
    ['true', true],
    ['null', null],
    ['', undefined],
    ['EU', 'EU'],
  ] as const)('reads the comparison value %j', (raw, value) => {
    expect(comparisonValue(raw)).toBe(value);
  });

  it('places API issues at the field they name', () => {
    const issues = issuesByField([
      { path: 'body.definition.steps.1.kind', message: 'Invalid input' },
      { path: 'steps.0.datasetId', message: 'no dataset with this id in the project' },
      { path: 'steps.2.when.path', message: 'must be a dotted path such as rows.0.total' },
      { path: 'steps.3.needs.0', message: 'must be lower-case letters' },
      { path: 'body.name', message: 'Too big' },
    ]);
    expect(fieldPath('body.definition.inputs.0.name')).toBe('inputs.0.name');
    expect(issues.get('name')).toBe('Too big');
    expect(stepFieldIssue(issues, 0, 'datasetId')).toBe('no dataset with this id in the project');
    expect(stepFieldIssue(issues, 2, 'when.path')).toMatch(/dotted path/);
    expect(stepFieldIssue(issues, 3, 'needs')).toBe('entry 1: must be lower-case letters');
    // Not a field of the form: said at the step.
    expect(stepIssue(issues, 1, shownFields('sql'))).toBe('kind: Invalid input');
    expect(stepIssue(issues, 0, shownFields('sql'))).toBeUndefined();
  });
});
