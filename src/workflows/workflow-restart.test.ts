import { afterAll, describe, expect, it } from 'vitest';
import { eventually } from '../../test/eventually.ts';
import { createProjectWithMembers } from '../../test/factories.ts';
import {
  createTestStorage,
  openTestPlatform,
  type TestApp,
  type TestStorage,
  testBackends,
} from '../../test/test-platform.ts';
import { buildApp } from '../app.ts';

const storages: TestStorage[] = [];
afterAll(async () => {
  for (const storage of storages) await storage.dispose();
});

/** The app over existing storage, with job workers and the engine's recovery, like a start. */
async function start(storage: TestStorage): Promise<TestApp> {
  const platform = await openTestPlatform(storage, { jobsEnabled: true, logLevel: 'info' });
  const app = await buildApp(platform);
  await platform.jobs.start();
  await app.ready();
  await platform.runs.startRecovery({ embedded: storage.backend === 'pglite' });
  return {
    app,
    platform,
    storage,
    close: async () => {
      await app.close();
      await platform.close();
    },
  };
}

// A run waiting for a person's approval is a paused durable run: a restart neither loses it
// nor lets it go on by itself; the decision after the restart carries it on.
describe.each(testBackends())('an approval on %s', { timeout: 180_000 }, (backend) => {
  it('survives a restart of the server', async () => {
    const storage = await createTestStorage(backend);
    storages.push(storage);
    let server = await start(storage);
    const members = await createProjectWithMembers(server);
    const actor = members.editor.actor;
    const projectId = members.project.id;
    const workflows = () => server.app.features.workflows.service;
    const workflow = await workflows().createWorkflow(actor, projectId, {
      name: 'Needs a yes',
      definition: {
        steps: [
          { id: 'draft', kind: 'report', title: 'Draft', markdown: 'draft' },
          { id: 'check', kind: 'approval', message: 'Publish the draft?' },
          {
            id: 'final',
            kind: 'report',
            title: 'Final',
            markdown: 'final after {{steps.draft.markdown}}',
          },
        ],
      },
    });
    const run = await workflows().startRun(actor, projectId, workflow.id);
    const waiting = await eventually(
      () => workflows().getRun(actor, projectId, run.id),
      (view) => view.status === 'waiting-approval',
      { what: 'the run to wait for approval' },
    );
    expect(waiting.waitingFor).toBe('check');
    expect(waiting.steps.find((step) => step.id === 'check')?.status).toBe('waiting');

    await server.close();
    server = await start(storage);
    try {
      const after = await workflows().getRun(actor, projectId, run.id);
      expect(after.status).toBe('waiting-approval');
      expect(after.steps.find((step) => step.id === 'final')).toBeUndefined();

      await workflows().decide(actor, projectId, run.id, 'check', {
        decision: 'approved',
        note: 'ok',
      });
      const done = await eventually(
        () => workflows().getRun(actor, projectId, run.id),
        (view) => ['completed', 'failed'].includes(view.status),
        { what: 'the run to finish' },
      );
      expect(done.status).toBe('completed');
      expect(done.steps.map((step) => [step.id, step.status])).toEqual([
        ['draft', 'completed'],
        ['check', 'completed'],
        ['final', 'completed'],
      ]);
      expect(done.steps[0]!.attempts).toBe(1);
      expect(done.steps[2]!.output).toMatchObject({
        title: 'Final',
        markdown: 'final after draft',
      });
    } finally {
      await server.close();
    }
  });
});
