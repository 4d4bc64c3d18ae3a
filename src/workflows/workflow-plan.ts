import type { FieldIssue } from '../platform/app-error.ts';
import type { WorkflowDefinition, WorkflowStep } from './workflow-schema.ts';
import { TEMPLATE_PATTERN } from './workflow-template.ts';

/**
 * The order a definition's steps run in, and its structural errors (pure: no database). A
 * step runs after every step it needs — listed in `needs`, read by its templates
 * (`{{steps.id…}}`), tested by a branch, or skipped by one — and otherwise in list order.
 * Errors name the step and field as `steps.<index>.<field>`.
 */
export interface WorkflowPlan {
  order: WorkflowStep[];
  /** Each step's direct dependencies. */
  needs: Map<string, Set<string>>;
}

/** The `{{…}}` references of a template text. */
export function templateRefs(text: string): { scope: 'inputs' | 'steps'; name: string }[] {
  return [...text.matchAll(TEMPLATE_PATTERN)].map((match) => ({
    scope: match[1] as 'inputs' | 'steps',
    name: match[2]!,
  }));
}

/** The template texts of a step, by field name. */
export function templatesOf(step: WorkflowStep): [field: string, text: string][] {
  switch (step.kind) {
    case 'llm':
      return [
        ['prompt', step.prompt],
        ...(step.system ? [['system', step.system] as [string, string]] : []),
      ];
    case 'report':
      return [['markdown', step.markdown]];
    default:
      return [];
  }
}

export function planWorkflow(
  definition: WorkflowDefinition,
): { plan: WorkflowPlan; issues: [] } | { plan: undefined; issues: FieldIssue[] } {
  const issues: FieldIssue[] = [];
  const index = new Map<string, number>();
  definition.steps.forEach((step, position) => {
    if (index.has(step.id))
      issues.push({ path: `steps.${position}.id`, message: `step id "${step.id}" is used twice` });
    else index.set(step.id, position);
  });
  const inputNames = new Set(definition.inputs.map((input) => input.name));
  const needs = new Map<string, Set<string>>(definition.steps.map((step) => [step.id, new Set()]));
  const need = (position: number, field: string, step: WorkflowStep, target: string) => {
    if (!index.has(target))
      issues.push({ path: `steps.${position}.${field}`, message: `no step "${target}"` });
    else if (target === step.id)
      issues.push({ path: `steps.${position}.${field}`, message: 'a step cannot need itself' });
    else needs.get(step.id)!.add(target);
  };

  definition.steps.forEach((step, position) => {
    for (const target of step.needs ?? []) need(position, 'needs', step, target);
    for (const [field, text] of templatesOf(step))
      for (const ref of templateRefs(text)) {
        if (ref.scope === 'steps') need(position, field, step, ref.name);
        else if (!inputNames.has(ref.name))
          issues.push({ path: `steps.${position}.${field}`, message: `no input "${ref.name}"` });
      }
    if (step.kind === 'export' && step.reportStep)
      need(position, 'reportStep', step, step.reportStep);
    if (step.kind === 'branch') {
      need(position, 'when.step', step, step.when.step);
      for (const target of step.skipIfFalse) {
        const targetPosition = index.get(target);
        if (targetPosition === undefined || target === step.id) {
          issues.push({
            path: `steps.${position}.skipIfFalse`,
            message: `no step "${target}" to skip`,
          });
          continue;
        }
        needs.get(target)?.add(step.id);
      }
    }
  });
  if (issues.length > 0) return { plan: undefined, issues };

  // Kahn's algorithm, taking the earliest listed ready step each time (a stable order).
  const order: WorkflowStep[] = [];
  const done = new Set<string>();
  const pending = [...definition.steps];
  while (pending.length > 0) {
    const next = pending.findIndex((step) => [...needs.get(step.id)!].every((id) => done.has(id)));
    if (next === -1) {
      const cycle = pending[0]!;
      return {
        plan: undefined,
        issues: [
          {
            path: `steps.${index.get(cycle.id)}.needs`,
            message: `steps ${pending.map((step) => `"${step.id}"`).join(', ')} need each other (a cycle)`,
          },
        ],
      };
    }
    const [step] = pending.splice(next, 1);
    order.push(step!);
    done.add(step!.id);
  }
  return { plan: { order, needs }, issues: [] };
}

/** Steps a false branch skips: its targets and every step that needs one, transitively. */
export function skippedBy(plan: WorkflowPlan, targets: readonly string[]): Set<string> {
  const skipped = new Set(targets);
  for (const step of plan.order)
    if ([...plan.needs.get(step.id)!].some((id) => skipped.has(id))) skipped.add(step.id);
  return skipped;
}
