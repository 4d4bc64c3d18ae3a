import { afterAll, beforeAll } from 'vitest';
import {
  createTestStorage,
  openTestPlatform,
  type TestPlatform,
  type TestStorage,
  testConfig,
} from '../../test/test-platform.ts';
import type { Actor } from '../access/actor.ts';
import type { ProjectRole } from '../access/project-access.ts';
import { createFeatures } from '../features.ts';
import { uuidv7 } from '../platform/ids.ts';

export function testActor(userId = uuidv7()): Actor {
  return {
    userId,
    isAdmin: false,
    via: 'session',
    scopes: ['read', 'write', 'admin'],
    credentialId: undefined,
  };
}

/** A project row (and user) to hang datasets on. */
export async function insertProject(platform: TestPlatform, userId?: string) {
  const projectId = uuidv7();
  if (userId) {
    await platform.database.db
      .insertInto('app_user')
      .values({ id: userId, email: `${userId}@example.test`, password_hash: 'x' })
      .execute();
  }
  await platform.database.db
    .insertInto('project')
    .values({ id: projectId, name: 'Project' })
    .execute();
  return projectId;
}

/**
 * The sheets module of a test platform, wired by the composition root as the app wires it
 * (createFeatures, imports executed by their caller), with the real project access: `grant`
 * makes a user a member of a project.
 */
export function sheetsOn(
  platform: TestPlatform,
  options: { addressAllowed?: (address: string) => boolean } = {},
) {
  const features = createFeatures(platform, {
    useJobs: false,
    ...(options.addressAllowed ? { sheets: { addressAllowed: options.addressAllowed } } : {}),
  });
  return {
    ...features.sheets,
    access: features.core.access,
    /** Makes `userId` (created if new) a member of the project with `role`. */
    grant: (userId: string, projectId: string, role: ProjectRole) =>
      grantRole(platform, userId, projectId, role),
  };
}

/** A membership row (and the user, if new): the real access check then lets them in. */
export async function grantRole(
  platform: TestPlatform,
  userId: string,
  projectId: string,
  role: ProjectRole,
) {
  await platform.database.db
    .insertInto('app_user')
    .values({ id: userId, email: `${userId}@example.test`, password_hash: 'x' })
    .onConflict((conflict) => conflict.column('id').doNothing())
    .execute();
  await platform.database.db
    .insertInto('project_member')
    .values({ project_id: projectId, user_id: userId, role })
    // A changed role only: an update fires the "project keeps an owner" trigger.
    .onConflict((conflict) =>
      conflict
        .columns(['project_id', 'user_id'])
        .doUpdateSet({ role })
        .where('project_member.role', '<>', role),
    )
    .execute();
}

/**
 * The "People" dataset most sheet tests start from: three empty rows, Name (text) and Age
 * (integer), and a formula column Label = upper(Name).
 */
export async function peopleWithLabel(
  module: Pick<ReturnType<typeof sheetsOn>, 'sheets'>,
  editor: Actor,
  projectId: string,
  name = 'People',
) {
  const dataset = await module.sheets.createDataset(editor, projectId, {
    name,
    rows: 3,
    columns: [
      { name: 'Name', type: 'text' },
      { name: 'Age', type: 'integer' },
    ],
  });
  const [nameColumn, age] = dataset.columns;
  const label = await module.sheets.addColumn(editor, projectId, dataset.id, {
    name: 'Label',
    formula: 'upper({{Name}})',
  });
  return { dataset, name: nameColumn!, age: age!, label };
}

/** A test file's sheets: a copied platform, the module, an editor and a viewer on one project. */
export interface SheetsTestEnv {
  storage: TestStorage;
  platform: TestPlatform;
  module: ReturnType<typeof sheetsOn>;
  editor: Actor;
  viewer: Actor;
  projectId: string;
}

/** Opens a SheetsTestEnv before the file's tests (then hands it to `use`), closes it after them. */
export function openSheetsTestEnvForFile(use: (env: SheetsTestEnv) => void | Promise<void>): void {
  let env: SheetsTestEnv | undefined;
  beforeAll(async () => {
    const storage = await createTestStorage();
    // SQL limits small enough for a test to reach.
    const sheets = { ...testConfig(storage).sheets, sqlTimeoutMs: 2_000, sqlMaxRows: 1_000 };
    const platform = await openTestPlatform(storage, { sheets });
    const module = sheetsOn(platform);
    const editor = testActor();
    const viewer = testActor();
    const projectId = await insertProject(platform, editor.userId);
    await module.grant(editor.userId, projectId, 'editor');
    await module.grant(viewer.userId, projectId, 'viewer');
    env = { storage, platform, module, editor, viewer, projectId };
    await use(env);
  });
  afterAll(async () => {
    await env?.platform.close();
    await env?.storage.dispose();
  });
}
