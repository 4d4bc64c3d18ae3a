import { describe, expect, it } from 'vitest';
import type { RunStep, WorkflowRun } from './workflow-api.ts';
import { timelineOf } from './workflow-timeline.ts';

const step = (id: string, status: RunStep['status']): RunStep => ({
  id,
  kind: 'sql',
  position: 0,
  status,
  attempts: 1,
  startedAt: null,
  finishedAt: null,
  durationMs: 5,
  inputTokens: null,
  outputTokens: null,
  costNano: null,
  error: null,
  output: null,
});

const run = (steps: RunStep[]) => ({ steps }) as unknown as WorkflowRun;

describe('the run timeline', () => {
  it("shows the run's steps, then the version's steps not reached yet", () => {
    const timeline = timelineOf(run([step('docs', 'completed'), step('count', 'running')]), [
      { id: 'docs', kind: 'import-documents' },
      { id: 'count', kind: 'sql' },
      { id: 'report', kind: 'report' },
    ]);
    expect(timeline.map((item) => [item.id, item.status])).toEqual([
      ['docs', 'completed'],
      ['count', 'running'],
      ['report', 'pending'],
    ]);
  });

  it('shows only what ran when the definition of its version is not known', () => {
    expect(timelineOf(run([step('docs', 'failed')]), undefined).map((item) => item.id)).toEqual([
      'docs',
    ]);
  });
});
