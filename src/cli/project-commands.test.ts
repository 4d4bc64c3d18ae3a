import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { uuidv7 } from '../platform/ids.ts';
import { cliDataDirPerSuite, runCliCommand, withCliDatabase } from './cli-test-helpers.ts';
import { registerProjectCommands } from './project-commands.ts';

const ownerId = uuidv7();
const storage = cliDataDirPerSuite({
  seed: (db) =>
    sql`
    insert into app_user (id, email, display_name, password_hash, password_changed_at, created_at, updated_at)
    values (${ownerId}, 'owner@example.com', 'Owner', 'not-a-real-hash', now(), now(), now())`
      .execute(db)
      .then(() => undefined),
});

const run = (...args: string[]) => runCliCommand(registerProjectCommands, args);

const members = (projectId: string) =>
  withCliDatabase(storage(), (db) =>
    db
      .selectFrom('project_member')
      .select(['user_id', 'role'])
      .where('project_id', '=', projectId)
      .execute(),
  );

// Each command opens the platform (PGlite, DuckDB) in this process: slow on a loaded machine.
describe('braincells project', { timeout: 120_000 }, () => {
  it('creates a project owned by an account, and one owned by nobody', async () => {
    const owned = await run(
      'project',
      'create',
      'Team data',
      '--owner',
      'Owner@Example.com',
      '--json',
    );
    expect(owned.error).toBeUndefined();
    const project = JSON.parse(owned.out);
    expect(project).toMatchObject({ name: 'Team data', owner: 'owner@example.com', role: null });
    expect(await members(project.id)).toEqual([{ user_id: ownerId, role: 'owner' }]);

    const plain = await run('project', 'create', '  Scratch  ');
    expect(plain.error).toBeUndefined();
    expect(plain.out).toMatch(/^Created project Scratch \([0-9a-f-]{36}\)\n$/);
  });

  it('lists projects as a table and as JSON', async () => {
    const json = await run('project', 'list', '--json');
    expect(json.error).toBeUndefined();
    const names = (JSON.parse(json.out).items as { name: string }[]).map((item) => item.name);
    expect(names.sort()).toEqual(['Scratch', 'Team data']);
    const table = await run('project', 'list');
    expect(table.out.split('\n')[0]).toMatch(/^id\s+name\s+createdAt$/);
    expect(table.out).toContain('Team data');
  });

  it('refuses a bad name or an unknown owner, naming it, and writes nothing', async () => {
    const empty = await run('project', 'create', '   ');
    expect(empty.error).toMatchObject({ exitCode: 2, message: 'name: must not be empty' });
    const control = await run('project', 'create', 'bad\u0007name');
    expect(control.error).toMatchObject({
      exitCode: 2,
      message: 'name: must not contain control characters',
    });
    const badEmail = await run('project', 'create', 'X', '--owner', 'not-an-email');
    expect(badEmail.error).toMatchObject({ exitCode: 2 });
    expect((badEmail.error as Error).message).toMatch(/^--owner: /);
    const unknown = await run('project', 'create', 'Orphan', '--owner', 'nobody@example.com');
    expect((unknown.error as Error).message).toBe('user not found');
    const after = JSON.parse((await run('project', 'list', '--json')).out);
    expect(after.items.map((item: { name: string }) => item.name)).not.toContain('Orphan');
  });
});
