import { afterAll, beforeAll } from 'vitest';
import {
  createTestStorage,
  openTestPlatform,
  type TestPlatform,
  type TestStorage,
} from '../../test/test-platform.ts';
import type { Actor } from '../access/actor.ts';
import type { ProjectAccess, ProjectRole } from '../access/project-access.ts';
import { PROJECT_ROLES } from '../access/project-access.ts';
import { forbidden, notFound } from '../platform/app-error.ts';
import { createInProcessEventBus } from '../platform/events.ts';
import { uuidv7 } from '../platform/ids.ts';
import { createSheetImportService } from './import/sheet-import-service.ts';
import { createSheetDataStore } from './sheet-data-store.ts';
import { createSheetService } from './sheet-service.ts';
import { createSheetStore } from './sheet-store.ts';

/** A ProjectAccess port fake: roles per (user, project), recording every check. */
export function fakeAccess(roles: Record<string, Record<string, ProjectRole>> = {}) {
  const checks: { userId: string; projectId: string; minimum: ProjectRole }[] = [];
  const access: ProjectAccess & {
    checks: typeof checks;
    grant(userId: string, projectId: string, role: ProjectRole): void;
  } = {
    checks,
    grant(userId, projectId, role) {
      roles[userId] = { ...roles[userId], [projectId]: role };
    },
    async requireRole(actor: Actor, projectId: string, minimum: ProjectRole) {
      checks.push({ userId: actor.userId, projectId, minimum });
      if (actor.isAdmin) return 'owner';
      const role = roles[actor.userId]?.[projectId];
      if (!role) throw notFound('project', projectId);
      if (PROJECT_ROLES.indexOf(role) < PROJECT_ROLES.indexOf(minimum)) throw forbidden();
      return role;
    },
  };
  return access;
}

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

/** The sheets module wired on a test platform, with a fake access port. */
export function sheetsOn(
  platform: TestPlatform,
  options: { orderingCacheThreshold?: number; addressAllowed?: (address: string) => boolean } = {},
) {
  const access = fakeAccess();
  const events = createInProcessEventBus();
  const store = createSheetStore(platform.database.db);
  const data = createSheetDataStore({
    duckdb: platform.duckdb,
    ...(options.orderingCacheThreshold
      ? { orderingCacheThreshold: options.orderingCacheThreshold }
      : {}),
  });
  const sheets = createSheetService({
    store,
    data,
    access,
    events,
    duckdb: platform.duckdb,
    settings: {
      retentionDays: platform.config.sheets.retentionDays,
      sqlTimeoutMs: 2_000,
      sqlMaxRows: 1_000,
    },
  });
  const imports = createSheetImportService({
    store,
    data,
    access,
    events,
    duckdb: platform.duckdb,
    jobs: undefined,
    logger: platform.logger,
    settings: { ...platform.config.sheets, dataDir: platform.config.dataDir },
    ...(options.addressAllowed ? { addressAllowed: options.addressAllowed } : {}),
  });
  return { access, events, store, data, sheets, imports };
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
    const platform = await openTestPlatform(storage);
    const module = sheetsOn(platform);
    const editor = testActor();
    const viewer = testActor();
    const projectId = await insertProject(platform, editor.userId);
    module.access.grant(editor.userId, projectId, 'editor');
    module.access.grant(viewer.userId, projectId, 'viewer');
    env = { storage, platform, module, editor, viewer, projectId };
    await use(env);
  });
  afterAll(async () => {
    await env?.platform.close();
    await env?.storage.dispose();
  });
}
