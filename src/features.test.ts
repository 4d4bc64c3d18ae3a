import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createTestStorage,
  openTestPlatform,
  type TestPlatform,
  type TestStorage,
} from '../test/test-platform.ts';
import { systemActor } from './auth/system-actor.ts';
import { createCoreFeatures, createFeatures } from './features.ts';

describe('the composition root', () => {
  let storage: TestStorage;
  let platform: TestPlatform;

  beforeAll(async () => {
    storage = await createTestStorage();
    platform = await openTestPlatform(storage, { jobsEnabled: false });
  });
  afterAll(async () => {
    await platform?.close();
    await storage?.dispose();
  });

  it('builds each feature once, over the same core, and closes only what it built', async () => {
    const features = createFeatures(platform, { useJobs: false });
    // Nothing built yet: the lifecycle has nothing to stop.
    await features.stopWork();
    await features.close();

    expect(features.sheets).toBe(features.sheets);
    expect(features.core).toBe(features.core);
    expect(features.generation).toBe(features.generation);
    expect(features.generation.runs).toBe(features.generation.runs);
    expect(features.sheets.events).toBe(features.events);

    // One access check for every feature: a project made through the core is the sheets'.
    const actor = systemActor();
    const project = await features.core.projects.createProject(actor, {
      name: 'Root',
      description: '',
    });
    const dataset = await features.sheets.sheets.createDataset(actor, project.id, {
      name: 'Wired once',
      rows: 2,
      columns: [{ name: 'A' }],
    });
    const { dataset: seen } = await features.sheets.sheets.requireDataset(
      actor,
      project.id,
      dataset.id,
    );
    expect(seen.name).toBe('Wired once');
    // The export use case records through the core's audit recorder.
    const exported = await features.sheets.exports.exportDataset(actor, project.id, dataset.id, {
      format: 'csv',
      withMetadata: false,
    });
    expect(exported.rows).toBe(2);
    const entries = await features.core.auditLog.listProjectEntries(actor, project.id, {
      limit: 10,
      action: 'dataset.export',
    });
    expect(entries.map((entry) => entry.action)).toContain('dataset.export');

    await features.stopWork();
    await features.close();
  });

  it('opens the LLM feature over the metadata database alone (the llm CLI)', async () => {
    const { config, logger, database, telemetry } = platform;
    const features = createCoreFeatures({ config, logger, database, telemetry });
    const actor = systemActor();
    const project = await features.core.projects.createProject(actor, {
      name: 'LLM only',
      description: '',
    });
    expect(await features.llm.admin.listProviders(actor, project.id)).toEqual([]);
    await features.close();
  });
});
