import { existsSync, utimesSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProjectWithMembers, type ProjectWithMembers } from '../../../test/factories.ts';
import { createTestApp, type TestApp } from '../../../test/test-platform.ts';
import type { ImageReference } from './image-reference.ts';
import { solidImage, storedImage } from './image-test-fixtures.ts';

const DAY = 24 * 3_600_000;

describe('image blob sweep', () => {
  let t: TestApp;
  let members: ProjectWithMembers;
  let other: ProjectWithMembers;

  beforeAll(async () => {
    t = await createTestApp();
    members = await createProjectWithMembers(t);
    other = await createProjectWithMembers(t);
  });
  afterAll(async () => {
    await t?.close();
  });

  const images = () => t.app.features.images;
  let shade = 0;
  const store = async (projectId: string, name: string, same = false) => {
    if (!same) shade += 1;
    const bytes = await solidImage('png', { colour: { r: shade, g: 100, b: 200 } });
    return storedImage(t, projectId, name, bytes);
  };
  /** Makes a link and its files look stored two days ago. */
  const age = async (projectId: string, reference: ImageReference) => {
    const then = new Date(Date.now() - 2 * DAY);
    await t.platform.database.db
      .updateTable('image_blob')
      .set({ last_linked_at: then })
      .where('project_id', '=', projectId)
      .where('sha256', '=', reference.sha256)
      .execute();
    for (const file of [
      images().blobs.originalPath(reference.sha256),
      images().blobs.thumbnailPath(reference.sha256),
    ])
      if (existsSync(file)) utimesSync(file, then, then);
  };
  const dataset = async (who: ProjectWithMembers, references: ImageReference[]) => {
    const sheets = t.app.features.sheets.sheets;
    const created = await sheets.createDataset(who.owner.actor, who.project.id, {
      name: 'Photos',
      columns: [{ name: 'Photo', type: 'image' }],
    });
    const photo = created.columns[0]!.id;
    await sheets.appendRows(
      who.owner.actor,
      who.project.id,
      created.id,
      references.map((reference) => ({ [photo]: reference as never })),
    );
    return created.id;
  };
  const held = async (projectId: string, reference: ImageReference) =>
    (await images().images.readForModel(projectId, [reference.sha256])).has(reference.sha256);

  it('removes only old images no cell refers to; recent, referenced and shared ones stay', async () => {
    const project = members.project.id;
    const inCell = await store(project, 'in-a-cell.png');
    const inDeleted = await store(project, 'in-a-deleted-dataset.png');
    const orphan = await store(project, 'orphan.png');
    // Just stored, no row yet: what a running import or a generation holds.
    const fresh = await store(project, 'fresh.png');
    // Unreferenced here, in a cell of another project.
    const shared = await store(project, 'shared.png');
    expect((await store(other.project.id, 'shared.png', true)).sha256).toBe(shared.sha256);
    await dataset(members, [inCell]);
    const deleted = await dataset(members, [inDeleted]);
    await t.app.features.sheets.sheets.deleteDataset(members.owner.actor, project, deleted, {
      force: false,
    });
    await dataset(other, [shared]);
    for (const reference of [inCell, inDeleted, orphan, shared]) await age(project, reference);
    await age(other.project.id, shared);

    const result = await images().sweep.sweep();
    expect(result).toMatchObject({ unlinked: 2, removed: 1 });
    expect(await held(project, orphan)).toBe(false);
    expect(existsSync(images().blobs.originalPath(orphan.sha256))).toBe(false);
    expect(existsSync(images().blobs.thumbnailPath(orphan.sha256))).toBe(false);
    for (const kept of [inCell, inDeleted, fresh]) {
      expect(await held(project, kept)).toBe(true);
      expect(existsSync(images().blobs.originalPath(kept.sha256))).toBe(true);
    }
    // The link of the project that no longer uses it is gone; the bytes stay for the other.
    expect(await held(project, shared)).toBe(false);
    expect(await held(other.project.id, shared)).toBe(true);
    expect(existsSync(images().blobs.originalPath(shared.sha256))).toBe(true);

    // Nothing more to do on a second pass.
    expect(await images().sweep.sweep()).toMatchObject({ unlinked: 0, removed: 0 });
  });

  it('storing old bytes again renews them: the sweep keeps them', async () => {
    const project = members.project.id;
    const again = await store(project, 'again.png');
    await age(project, again);
    const bytes = await solidImage('png', { colour: { r: shade, g: 100, b: 200 } });
    expect((await images().images.storeImage(project, { name: 'again.png', bytes })).ok).toBe(true);
    expect(await images().sweep.sweep()).toMatchObject({ unlinked: 0, removed: 0 });
    expect(await held(project, again)).toBe(true);
    // Two days later nothing refers to it: it goes.
    const result = await images().sweep.sweep(Date.now() + 2 * DAY);
    expect(result.unlinked).toBeGreaterThanOrEqual(1);
    expect(existsSync(images().blobs.originalPath(again.sha256))).toBe(false);
  });
});
