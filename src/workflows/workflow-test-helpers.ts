import { setTimeout as delay } from 'node:timers/promises';
import { createProjectWithMembers, type ProjectWithMembers } from '../../test/factories.ts';
import { registerTestSecret } from '../../test/leak-scan.ts';
import { type Backend, createTestApp, type TestApp } from '../../test/test-platform.ts';
import { type FakeLlm, startFakeLlm } from '../../tools/fake-llm/fake-llm-server.ts';
import { loadConfig } from '../platform/config.ts';
import type { CellValue } from '../sheets/sheet-schema.ts';
import { runStream } from './workflow-events.ts';
import type { WorkflowRunView } from './workflow-presenter.ts';
import type { WorkflowDefinitionInput } from './workflow-schema.ts';

export const FAKE_KEY = 'sk-test-workflow-fake-key-5e6f7a8b';

/**
 * The whole app on fresh storage with job workers, the fake LLM server as an OpenAI provider
 * of a project with one member per role. LLM calls are tried once (the workflow step's own
 * retry is what the tests watch); step retries wait `retryBaseMs` (1 ms).
 */
export async function openWorkflowTestEnv(backend: Backend = 'pglite') {
  registerTestSecret('provider-key', FAKE_KEY);
  const fake = await startFakeLlm({ apiKey: FAKE_KEY });
  const base = loadConfig({}, {});
  const waits: number[] = [];
  const t = await createTestApp({
    backend,
    config: {
      jobsEnabled: true,
      llm: { ...base.llm, maxAttempts: 1, retryBaseMs: 5, retryMaxMs: 50, usageFlushMs: 20 },
      logLevel: 'info',
    },
    features: {
      workflows: {
        retryBaseMs: 1,
        wait: async (ms, signal) => {
          waits.push(ms);
          signal.throwIfAborted();
          // Retry backoffs (≤ 30 ms here) are instant. A step following another feature's
          // work (an AI-column run, an extraction) is woken by that work's events on the
          // dataset's stream; this wait is only its fallback poll, kept at the real interval.
          if (ms >= 500) await delay(ms, undefined, { signal });
        },
      },
    },
  });
  const members = await createProjectWithMembers(t);
  const projectId = members.project.id;
  const provider = await t.app.features.llm.admin.createProvider(members.owner.actor, projectId, {
    name: 'fake openai',
    kind: 'openai',
    baseUrl: `${fake.url}/v1`,
    apiKey: FAKE_KEY,
    maxConcurrency: 16,
  });
  return workflowTestEnv({ t, fake, members, projectId, providerId: provider.id, waits });
}

export type WorkflowTestEnv = ReturnType<typeof workflowTestEnv>;

function workflowTestEnv(parts: {
  t: TestApp;
  fake: FakeLlm;
  members: ProjectWithMembers;
  projectId: string;
  providerId: string;
  /** Waits the steps asked for (retry backoff, polls), in order. */
  waits: number[];
}) {
  const { t, members, projectId } = parts;
  const service = t.app.features.workflows.service;
  const actor = members.editor.actor;
  /**
   * Waits for the run's `run-updated` event with one of `statuses` (its live stream, as the
   * run view hears it); the 60 s bound is a liveness bound, not a speed limit.
   */
  const waitForRun = (
    runId: string,
    statuses: string[] = ['completed', 'failed', 'cancelled', 'waiting-approval', 'paused'],
  ): Promise<WorkflowRunView> =>
    waitForRunEvent(
      t,
      runId,
      (run) => statuses.includes(run.status),
      () => service.getRun(actor, projectId, runId),
    );
  return {
    ...parts,
    service,
    actor,

    /** A dataset with one text column per name, filled with `rows`. */
    async dataset(name: string, columns: string[], rows: Record<string, CellValue>[]) {
      const sheets = t.app.features.sheets.sheets;
      const created = await sheets.createDataset(actor, projectId, {
        name,
        columns: columns.map((column) => ({ name: column })),
      });
      const ids = Object.fromEntries(created.columns.map((column) => [column.name, column.id]));
      await sheets.appendRows(
        actor,
        projectId,
        created.id,
        rows.map((row) =>
          Object.fromEntries(Object.entries(row).map(([key, value]) => [ids[key]!, value])),
        ),
      );
      return { id: created.id, columns: ids };
    },

    create(name: string, definition: WorkflowDefinitionInput) {
      return service.createWorkflow(actor, projectId, { name, definition });
    },

    waitForRun,

    /** Starts a run of `workflowId` (as the editor) and waits for it as `waitForRun` does. */
    async runWorkflow(
      workflowId: string,
      options?: Parameters<typeof service.startRun>[3],
      statuses?: string[],
    ): Promise<WorkflowRunView> {
      const started = await service.startRun(actor, projectId, workflowId, options);
      return waitForRun(started.id, statuses);
    },

    async close() {
      await t.close();
      await parts.fake.close();
    },
  };
}

/**
 * Resolves with the first view of the run `done` accepts: the current one, else the next
 * `run-updated` event that is (subscribed before reading, so none is missed; a `resync` reads
 * the run again). Rejects after 60 s naming the last status seen — a hang turned into a failure.
 */
export async function waitForRunEvent(
  t: TestApp,
  runId: string,
  done: (run: WorkflowRunView) => boolean,
  read: () => Promise<WorkflowRunView>,
): Promise<WorkflowRunView> {
  const subscription = await t.app.features.events.subscribe(runStream(runId));
  try {
    let last = await read();
    if (done(last)) return last;
    return await new Promise<WorkflowRunView>((resolve, reject) => {
      const bound = setTimeout(
        () => reject(new Error(`run ${runId} not reached; last status ${last.status}`)),
        60_000,
      );
      const drain = async () => {
        for (const event of subscription.take()) {
          const run =
            event.type === 'run-updated'
              ? (event.data as WorkflowRunView)
              : event.type === 'resync'
                ? await read()
                : undefined;
          if (!run) continue;
          last = run;
          if (done(run)) {
            clearTimeout(bound);
            resolve(run);
            return;
          }
        }
      };
      subscription.onReady(() => void drain().catch(reject));
      void drain().catch(reject);
    });
  } finally {
    subscription.close();
  }
}
