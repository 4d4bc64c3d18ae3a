import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { migratedTempDir } from '../../test/crash-server.ts';
import { childEnv, spawnCli } from '../../test/spawn-server.ts';
import { startFakeLlm } from '../../tools/fake-llm/fake-llm-server.ts';
import { systemActor } from '../auth/system-actor.ts';
import { createFeatures } from '../features.ts';
import { loadConfig } from '../platform/config.ts';
import { createInProcessEventBus } from '../platform/events.ts';
import { createLogger } from '../platform/logger.ts';
import { openPlatform } from '../platform/platform.ts';
import { FAKE_KEY, prepareDataDir } from '../sheets/generation/generation-test-helpers.ts';
import { runStream } from '../workflows/workflow-events.ts';
import type { WorkflowRunView } from '../workflows/workflow-presenter.ts';
import { runCliCommandOn } from './cli-test-helpers.ts';
import {
  followRun,
  parseInputs,
  registerWorkflowCommands,
  runLines,
  templateRequest,
} from './workflow-commands.ts';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** A real `braincells` process: its exit code, stdout and stderr are the subject. */
async function cli(args: string[], env: NodeJS.ProcessEnv) {
  const child = spawnCli(args, env);
  const { code } = await child.exited;
  return { code, stdout: child.stdout(), stderr: child.stderr() };
}

/** `braincells workflow …` in this process (no spawn) on `dataDir`. */
const workflowHere = (dataDir: string, args: string[]) =>
  runCliCommandOn(dataDir, registerWorkflowCommands, ['workflow', ...args]);

describe('braincells documents add / workflow run / workflow status', { timeout: 300_000 }, () => {
  it('adds documents, runs a workflow with --wait, and shows its status as JSON', async () => {
    const fake = await startFakeLlm({ apiKey: FAKE_KEY });
    const dataDir = migratedTempDir('braincells-workflow-cli-');
    dirs.push(dataDir);
    try {
      const ids = await prepareDataDir(dataDir, fake.url, { rows: 3, run: false });
      const files = ['a.txt', 'b.md'].map((name, index) => {
        const file = path.join(dataDir, name);
        writeFileSync(file, `Invoice ${index + 1}\nTotal: ${100 * (index + 1)} EUR\n`);
        return file;
      });
      const env = childEnv({ BRAINCELLS_DATA_DIR: dataDir });

      const added = await cli(
        ['documents', 'add', ...files, '--project', ids.projectId, '--json'],
        env,
      );
      expect(added.code, added.stderr).toBe(0);
      const collection = JSON.parse(added.stdout) as {
        datasetId: string;
        items: { name: string; status: string }[];
      };
      expect(collection.items.map((item) => [item.name, item.status]).sort()).toEqual([
        ['a.txt', 'ready'],
        ['b.md', 'ready'],
      ]);

      // The workflow is made through the service, as the API would.
      const platform = await openPlatform(
        { ...loadConfig({}, {}), dataDir, jobsEnabled: false, logLevel: 'silent' },
        createLogger({ level: 'silent', format: 'json' }),
      );
      const features = createFeatures(platform, { useJobs: false });
      try {
        await features.workflows.service.createWorkflow(systemActor(), ids.projectId, {
          name: 'Count documents',
          definition: {
            inputs: [{ name: 'label' }],
            steps: [
              {
                id: 'count',
                kind: 'sql',
                datasetId: collection.datasetId,
                sql: 'select count(*) as n from dataset',
              },
              {
                id: 'report',
                kind: 'report',
                title: 'Count',
                markdown: '{{inputs.label}}: {{steps.count.rows.0.n}}',
              },
            ],
          },
        });
      } finally {
        await features.close();
        await platform.close();
      }

      const missing = await workflowHere(dataDir, [
        'run',
        'Count documents',
        '--project',
        ids.projectId,
        '--wait',
      ]);
      expect(missing.error).toBeInstanceOf(Error);
      expect((missing.error as Error).message).toContain('inputs.label');

      const ran = await cli(
        [
          'workflow',
          'run',
          'count documents',
          '--project',
          ids.projectId,
          '--input',
          'label=Documents',
          '--wait',
          '--json',
        ],
        env,
      );
      expect(ran.code, ran.stderr).toBe(0);
      const run = JSON.parse(ran.stdout) as WorkflowRunView;
      expect(run.status).toBe('completed');
      expect(run.steps.at(-1)?.output).toMatchObject({ title: 'Count', markdown: 'Documents: 2' });

      const status = await workflowHere(dataDir, ['status', run.id, '--json']);
      expect(status.error).toBeUndefined();
      expect((JSON.parse(status.out) as WorkflowRunView).steps.map((step) => step.status)).toEqual([
        'completed',
        'completed',
      ]);

      // Templates: listed with their fields; applied with --dry-run (nothing made), then for real.
      const listed = await workflowHere(dataDir, ['template', 'list', '--json']);
      expect(listed.error).toBeUndefined();
      expect(
        (JSON.parse(listed.out) as { items: { template: string }[] }).items.map(
          (item) => item.template,
        ),
      ).toEqual(['investigate-documents', 'enrich-dataset', 'compare-models']);
      const enrich = [
        'template',
        'apply',
        'enrich-dataset',
        '--project',
        ids.projectId,
        '--set',
        `datasetId=${ids.datasetId}`,
        '--set',
        'columnName=Summary',
        '--set',
        'prompt=Summarize {{Item}}',
        '--set',
        'model=gpt-4o-mini',
        '--set',
        `provider=${ids.providerId}`,
      ];
      const dry = await workflowHere(dataDir, [...enrich, '--dry-run']);
      expect(dry.error).toBeUndefined();
      expect(dry.out).toContain('Workflow "Enrich Spawned"');
      expect(dry.out).toContain('AI column "Summary" (gpt-4o-mini)');
      expect(dry.out).toContain('1. enrich (ai-column)');
      const applied = await workflowHere(dataDir, [...enrich, '--json']);
      expect(applied.error).toBeUndefined();
      const created = JSON.parse(applied.out) as {
        name: string;
        definition: { steps: { id: string; kind: string }[] };
      };
      expect(created.name).toBe('Enrich Spawned');
      expect(created.definition.steps.map((step) => step.id)).toEqual([
        'enrich',
        'filled',
        'report',
      ]);

      // Applied with --run --wait, the AI-column step's run executes in the CLI process too:
      // the workflow completes with no server running (it waited forever before).
      const appliedAndRun = await workflowHere(dataDir, [
        ...enrich,
        '--set',
        'name=Enrich and run',
        '--set',
        'columnName=Summary again',
        '--run',
        '--wait',
        '--json',
      ]);
      expect(appliedAndRun.error).toBeUndefined();
      const enrichRun = JSON.parse(appliedAndRun.out) as WorkflowRunView;
      expect(enrichRun.status).toBe('completed');
      expect(enrichRun.steps.map((step) => step.status)).toEqual([
        'completed',
        'completed',
        'completed',
      ]);
      expect(enrichRun.steps[0]?.output).toMatchObject({ done: 3, errors: 0 });
    } finally {
      await fake.close();
    }
  });

  it('follows a run through its event stream: the timeline at each change, step progress, the last change before closing', async () => {
    const bus = createInProcessEventBus();
    const view = (status: string, step: string) =>
      ({
        id: 'r1',
        workflowName: 'Audit',
        status,
        waitingFor: null,
        steps: [
          {
            id: 'extract',
            status: step,
            attempts: 1,
            durationMs: null,
            inputTokens: 10,
            outputTokens: 5,
            costNano: 2_000,
            error: null,
          },
        ],
        totals: { inputTokens: 10, outputTokens: 5, costNano: 2_000, durationMs: 0 },
      }) as unknown as WorkflowRunView;
    const written: string[] = [];
    const follow = await followRun(bus, 'r1', (text) => written.push(text));
    const delivered = () => new Promise((resolve) => setImmediate(resolve));
    const publish = (type: string, data: unknown) =>
      bus.publish(runStream('r1'), { type, data, coalesceKey: type });

    await publish('run-updated', view('running', 'running'));
    await delivered();
    await publish('run-updated', view('running', 'running'));
    await delivered();
    await publish('step-progress', { step: 'extract', done: 3, total: 1200 });
    await delivered();
    // Another run's stream is not this one's.
    await bus.publish(runStream('r2'), { type: 'run-updated', data: view('failed', 'failed') });
    await publish('run-updated', view('completed', 'completed'));
    follow.close();

    expect(written).toEqual([
      `${runLines(view('running', 'running')).join('\n')}\n`,
      '  extract: 3 / 1,200\n',
      `${runLines(view('completed', 'completed')).join('\n')}\n`,
    ]);
    expect(written[2]).toMatch(/Audit run r1: completed\n {2}extract +completed/);
    await bus.close();
  });

  it('reads a template request from --set name=value by the fields the template takes', () => {
    expect(
      templateRequest('investigate-documents', [
        'sampleDocuments=true',
        'contextChars=8000',
        'model=m',
      ]),
    ).toEqual({
      template: 'investigate-documents',
      sampleDocuments: true,
      contextChars: 8000,
      model: 'm',
    });
    expect(() => templateRequest('nope', [])).toThrow(/one of: investigate-documents/);
    expect(() => templateRequest('compare-models', ['model=x'])).toThrow(
      /no field "model"; its fields: name, datasetId, prompt, modelA/,
    );
    expect(() => templateRequest('investigate-documents', ['sampleDocuments=yes'])).toThrow(
      /true or false/,
    );
    expect(() => templateRequest('investigate-documents', ['contextChars=many'])).toThrow(
      /a number/,
    );
    expect(() => templateRequest('enrich-dataset', ['novalue'])).toThrow(/--set must look like/);
  });

  it('reads --input name=value and refuses anything else', () => {
    expect(parseInputs(['a=1', 'b=x=y', 'c='])).toEqual({ a: '1', b: 'x=y', c: '' });
    expect(() => parseInputs(['=1'])).toThrow(/name=value/);
    expect(() => parseInputs(['novalue'])).toThrow(/name=value/);
  });
});
