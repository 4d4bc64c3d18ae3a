import { describe, expect, it } from 'vitest';
import { planWorkflow, skippedBy } from './workflow-plan.ts';
import { definitionSchema, type WorkflowDefinitionInput } from './workflow-schema.ts';
import { markdownTable, renderTemplate } from './workflow-template.ts';

const DATASET = '0190f0a0-0000-7000-8000-000000000001';
const plan = (definition: WorkflowDefinitionInput) =>
  planWorkflow(definitionSchema.parse(definition));
const sql = (id: string, extra: object = {}) => ({
  id,
  kind: 'sql' as const,
  datasetId: DATASET,
  sql: 'select 1',
  ...extra,
});

describe('planWorkflow', () => {
  it('orders steps by what they need, else by the list', () => {
    const result = plan({
      steps: [
        {
          id: 'report',
          kind: 'report',
          title: 'R',
          markdown: '{{steps.ask.text}} {{steps.count}}',
        },
        { id: 'ask', kind: 'llm', model: 'm', prompt: 'Explain {{steps.count.rows}}' },
        sql('count'),
      ],
    });
    expect(result.plan?.order.map((step) => step.id)).toEqual(['count', 'ask', 'report']);
  });

  it.each([
    [
      'a cycle',
      { steps: [sql('a', { needs: ['b'] }), sql('b', { needs: ['a'] })] },
      'steps.0.needs',
      'cycle',
    ],
    ['a step naming itself', { steps: [sql('a', { needs: ['a'] })] }, 'steps.0.needs', 'itself'],
    [
      'an unknown step in a template',
      { steps: [{ id: 'r', kind: 'report', title: 'R', markdown: '{{steps.nope.text}}' }] },
      'steps.0.markdown',
      'no step "nope"',
    ],
    [
      'an unknown input',
      { steps: [{ id: 'r', kind: 'report', title: 'R', markdown: '{{inputs.month}}' }] },
      'steps.0.markdown',
      'no input "month"',
    ],
    ['a step id twice', { steps: [sql('a'), sql('a')] }, 'steps.1.id', 'twice'],
    [
      'a branch skipping nothing known',
      {
        steps: [
          sql('a'),
          {
            id: 'b',
            kind: 'branch',
            when: { step: 'a', path: 'rowCount', op: 'gt', value: 0 },
            skipIfFalse: ['zzz'],
          },
        ],
      },
      'steps.1.skipIfFalse',
      'no step "zzz"',
    ],
  ] as const)('refuses %s, naming the step and field', (_label, definition, path, message) => {
    const result = plan(definition as unknown as WorkflowDefinitionInput);
    expect(result.plan).toBeUndefined();
    expect(result.issues[0]?.path).toBe(path);
    expect(result.issues[0]?.message).toContain(message);
  });

  it('a false branch skips its targets and what needs them, not the rest', () => {
    const result = plan({
      steps: [
        sql('count'),
        {
          id: 'check',
          kind: 'branch',
          when: { step: 'count', path: 'rowCount', op: 'gt', value: 0 },
          skipIfFalse: ['ask'],
        },
        { id: 'ask', kind: 'llm', model: 'm', prompt: '{{steps.count.rows}}' },
        { id: 'report', kind: 'report', title: 'R', markdown: '{{steps.ask.text}}' },
        sql('other'),
      ],
    });
    expect([...skippedBy(result.plan!, ['ask'])].sort()).toEqual(['ask', 'report']);
  });

  it('refuses an unknown step kind in the schema, at the step', () => {
    const parsed = definitionSchema.safeParse({
      steps: [{ id: 'a', kind: 'shell', command: 'rm -rf /' }],
    });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]?.path).toEqual(['steps', 0, 'kind']);
  });
});

describe('renderTemplate', () => {
  it('fills inputs, step values and row tables; evaluates nothing', () => {
    const text = renderTemplate(
      `{{inputs.month}}: {{steps.q.rows.0.total}} / {{steps.q.rows}} {{ steps.x }}{{constructor}}\${1+1}`,
      {
        inputs: { month: 'May' },
        steps: { q: { rows: [{ vendor: 'A|B', total: 3 }] } },
      },
    );
    expect(text).toBe(
      `May: 3 / | vendor | total |\n| --- | --- |\n| A\\|B | 3 | {{constructor}}\${1+1}`,
    );
  });

  it('does not reach prototype properties through a path', () => {
    expect(
      renderTemplate('[{{steps.q.__proto__}}{{steps.q.constructor}}]', {
        inputs: {},
        steps: { q: {} },
      }),
    ).toBe('[]');
    expect(markdownTable([1, 2])).toBeUndefined();
  });
});
