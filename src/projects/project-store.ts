import type { Selectable, Transaction } from 'kysely';
import type { ProjectRole } from '../access/project-access.ts';
import type { DB, ProjectMemberTable, ProjectTable } from '../migrations/db-schema.ts';
import type { Executor } from '../platform/db/database.ts';
import {
  deleteMatching,
  selectMatching,
  updateMatchingRow,
  updateMatchingRows,
} from '../platform/db/store-helpers.ts';
import { pickDefined } from '../platform/pick-defined.ts';

export type ProjectRow = Selectable<ProjectTable>;
export type ProjectWithRole = ProjectRow & { role: ProjectRole | null };
export type MemberRow = Selectable<ProjectMemberTable> & { email: string; display_name: string };

/** A live (not deleted) project and the user's role in it, if any. */
export async function findProjectAndRole(
  db: Executor,
  projectId: string,
  userId: string,
): Promise<{ exists: boolean; role: ProjectRole | undefined }> {
  const row = await db
    .selectFrom('project')
    .leftJoin('project_member', (join) =>
      join
        .onRef('project_member.project_id', '=', 'project.id')
        .on('project_member.user_id', '=', userId),
    )
    .select(['project.id', 'project_member.role'])
    .where('project.id', '=', projectId)
    .where('project.deleted_at', 'is', null)
    .executeTakeFirst();
  return { exists: row !== undefined, role: row?.role ?? undefined };
}

export async function findProject(
  db: Executor,
  projectId: string,
): Promise<ProjectRow | undefined> {
  return selectMatching(db, 'project', { id: projectId, deleted_at: null }).executeTakeFirst();
}

export async function listProjectsForUser(
  db: Executor,
  userId: string,
): Promise<ProjectWithRole[]> {
  return db
    .selectFrom('project')
    .innerJoin('project_member', 'project_member.project_id', 'project.id')
    .selectAll('project')
    .select('project_member.role')
    .where('project_member.user_id', '=', userId)
    .where('project.deleted_at', 'is', null)
    .orderBy('project.name')
    .orderBy('project.id')
    .execute();
}

/** Every live project, with the user's role where they are a member (instance admins). */
export async function listAllProjects(db: Executor, userId: string): Promise<ProjectWithRole[]> {
  return db
    .selectFrom('project')
    .leftJoin('project_member', (join) =>
      join
        .onRef('project_member.project_id', '=', 'project.id')
        .on('project_member.user_id', '=', userId),
    )
    .selectAll('project')
    .select('project_member.role')
    .where('project.deleted_at', 'is', null)
    .orderBy('project.name')
    .orderBy('project.id')
    .execute();
}

export async function insertProject(
  db: Executor,
  row: { id: string; name: string; description: string; created_by: string | null; now: Date },
): Promise<ProjectRow> {
  const { now, ...values } = row;
  return db
    .insertInto('project')
    .values({ ...values, created_at: now, updated_at: now })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function updateProjectRow(
  db: Executor,
  projectId: string,
  changes: { name?: string | undefined; description?: string | undefined },
  now: Date,
): Promise<ProjectRow | undefined> {
  return updateMatchingRow(
    db,
    'project',
    { ...pickDefined(changes, ['name', 'description']), updated_at: now },
    { id: projectId, deleted_at: null },
  );
}

export async function markProjectDeleted(
  db: Executor,
  projectId: string,
  now: Date,
): Promise<boolean> {
  const deleted = await updateMatchingRows(
    db,
    'project',
    { deleted_at: now, updated_at: now },
    { id: projectId, deleted_at: null },
  );
  return deleted > 0;
}

/** A project's members with their e-mail and name. */
const membersOf = (db: Executor, projectId: string) =>
  db
    .selectFrom('project_member')
    .innerJoin('app_user', 'app_user.id', 'project_member.user_id')
    .selectAll('project_member')
    .select(['app_user.email', 'app_user.display_name'])
    .where('project_member.project_id', '=', projectId);

export async function listMembers(db: Executor, projectId: string): Promise<MemberRow[]> {
  return membersOf(db, projectId).orderBy('app_user.email').execute();
}

export async function findMember(
  db: Executor,
  projectId: string,
  userId: string,
): Promise<MemberRow | undefined> {
  return membersOf(db, projectId).where('project_member.user_id', '=', userId).executeTakeFirst();
}

/** An enabled account by e-mail (for adding a member). */
export async function findActiveUserIdByEmail(
  db: Executor,
  email: string,
): Promise<string | undefined> {
  const row = await db
    .selectFrom('app_user')
    .select('id')
    .where('email', '=', email.toLowerCase())
    .where('disabled_at', 'is', null)
    .executeTakeFirst();
  return row?.id;
}

export async function insertMember(
  db: Executor,
  row: { project_id: string; user_id: string; role: ProjectRole; now: Date },
): Promise<void> {
  const { now, ...values } = row;
  await db
    .insertInto('project_member')
    .values({ ...values, created_at: now, updated_at: now })
    .execute();
}

export async function updateMemberRole(
  db: Executor,
  projectId: string,
  userId: string,
  role: ProjectRole,
  now: Date,
): Promise<boolean> {
  const updated = await updateMatchingRows(
    db,
    'project_member',
    { role, updated_at: now },
    { project_id: projectId, user_id: userId },
  );
  return updated > 0;
}

export async function deleteMember(
  db: Executor,
  projectId: string,
  userId: string,
): Promise<boolean> {
  const deleted = await deleteMatching(db, 'project_member', {
    project_id: projectId,
    user_id: userId,
  });
  return deleted > 0;
}

/** Locks the project row for the rest of the transaction (member changes serialize on it). */
export async function lockProject(db: Transaction<DB>, projectId: string): Promise<boolean> {
  const row = await db
    .selectFrom('project')
    .select('id')
    .where('id', '=', projectId)
    .where('deleted_at', 'is', null)
    .forUpdate()
    .executeTakeFirst();
  return row !== undefined;
}

export async function countOwners(db: Executor, projectId: string): Promise<number> {
  const row = await db
    .selectFrom('project_member')
    .select((eb) => eb.fn.countAll<number>().as('count'))
    .where('project_id', '=', projectId)
    .where('role', '=', 'owner')
    .executeTakeFirstOrThrow();
  return Number(row.count);
}
