import type { Kysely, Transaction } from 'kysely';
import type { Actor, ApiKeyScope } from '../access/actor.ts';
import type { AuditRecorder } from '../access/audit-recorder.ts';
import { PROJECT_ROLES, type ProjectAccess, type ProjectRole } from '../access/project-access.ts';
import { hasScope, requireScope } from '../access/scopes.ts';
import type { DB } from '../migrations/db-schema.ts';
import { conflict, forbidden, notFound } from '../platform/app-error.ts';
import { isUuid, uuidv7 } from '../platform/ids.ts';
import type { AddMemberInput, CreateProjectInput, UpdateProjectInput } from './project-schema.ts';
import {
  countOwners,
  deleteMember,
  findActiveUserIdByEmail,
  findMember,
  findProject,
  findProjectAndRole,
  insertMember,
  insertProject,
  listAllProjects,
  listMembers,
  listProjectsForUser,
  lockProject,
  type MemberRow,
  markProjectDeleted,
  type ProjectWithRole,
  updateMemberRole,
  updateProjectRow,
} from './project-store.ts';

/** The API-key scope each role's work needs (project-access.ts). */
const SCOPE_FOR_ROLE: Record<ProjectRole, ApiKeyScope> = {
  viewer: 'read',
  editor: 'write',
  owner: 'admin',
};

function rank(role: ProjectRole): number {
  return PROJECT_ROLES.indexOf(role);
}

export interface ProjectService extends ProjectAccess {
  listProjects(actor: Actor): Promise<ProjectWithRole[]>;
  /**
   * Creates a project; its creator becomes owner. The system actor (CLI) owns nothing, so it
   * may name an owner by e-mail: an unknown one fails before anything is written.
   */
  createProject(
    actor: Actor,
    input: CreateProjectInput,
    options?: { ownerEmail?: string },
  ): Promise<ProjectWithRole>;
  getProject(actor: Actor, projectId: string): Promise<ProjectWithRole>;
  updateProject(
    actor: Actor,
    projectId: string,
    input: UpdateProjectInput,
  ): Promise<ProjectWithRole>;
  deleteProject(actor: Actor, projectId: string): Promise<void>;
  listMembers(actor: Actor, projectId: string): Promise<MemberRow[]>;
  addMember(actor: Actor, projectId: string, input: AddMemberInput): Promise<MemberRow>;
  updateMember(
    actor: Actor,
    projectId: string,
    userId: string,
    role: ProjectRole,
  ): Promise<MemberRow>;
  /** Owners remove anyone; any member may remove themselves. The last owner stays. */
  removeMember(actor: Actor, projectId: string, userId: string): Promise<void>;
}

export interface ProjectServiceDeps {
  db: Kysely<DB>;
  audit: AuditRecorder;
  now?: () => Date;
}

/**
 * Projects, members and the access check every project-scoped use case starts with.
 * Not a member (or no such project, or deleted) → NOT_FOUND; too weak a role or API-key
 * scope → FORBIDDEN; instance admins pass.
 */
export function createProjectService(deps: ProjectServiceDeps): ProjectService {
  const { db, audit } = deps;
  const now = deps.now ?? (() => new Date());

  /** Audits a change to a project (`project.*`) or to one of its members (`member.*`). */
  const recordChange = (
    trx: Transaction<DB>,
    actor: Actor,
    action: string,
    target: { projectId: string; memberId?: string },
    summary?: Record<string, unknown>,
  ) =>
    audit.record(trx, {
      actor,
      action,
      entityType: target.memberId === undefined ? 'project' : 'member',
      entityId: target.memberId ?? target.projectId,
      projectId: target.projectId,
      summary,
    });

  async function requireRole(actor: Actor, projectId: string, minimum: ProjectRole) {
    if (!isUuid(projectId)) throw notFound('project', projectId);
    const { exists, role } = await findProjectAndRole(db, projectId, actor.userId);
    if (!exists || (role === undefined && !actor.isAdmin)) throw notFound('project', projectId);
    if (!hasScope(actor, SCOPE_FOR_ROLE[minimum])) {
      throw forbidden(`This API key lacks the ${SCOPE_FOR_ROLE[minimum]} scope`);
    }
    if (actor.isAdmin) return role ?? 'owner';
    if (rank(role!) < rank(minimum))
      throw forbidden(`Requires the ${minimum} role in this project`);
    return role!;
  }

  async function withRole(actor: Actor, projectId: string): Promise<ProjectWithRole> {
    const project = await findProject(db, projectId);
    if (!project) throw notFound('project', projectId);
    const { role } = await findProjectAndRole(db, projectId, actor.userId);
    return { ...project, role: role ?? null };
  }

  async function getMember(projectId: string, userId: string): Promise<MemberRow> {
    const member = isUuid(userId) ? await findMember(db, projectId, userId) : undefined;
    if (!member) throw notFound('member', userId);
    return member;
  }

  return {
    requireRole,

    async listProjects(actor) {
      requireScope(actor, 'read');
      return actor.isAdmin
        ? listAllProjects(db, actor.userId)
        : listProjectsForUser(db, actor.userId);
    },

    async createProject(actor, input, options = {}) {
      requireScope(actor, 'write');
      if (options.ownerEmail !== undefined && actor.via !== 'system')
        throw forbidden('Only the command line names another owner');
      const at = now();
      const project = await db.transaction().execute(async (trx) => {
        const ownerId =
          options.ownerEmail === undefined
            ? undefined
            : await findActiveUserIdByEmail(trx, options.ownerEmail);
        if (options.ownerEmail !== undefined && !ownerId) throw notFound('user');
        const created = await insertProject(trx, {
          id: uuidv7(),
          name: input.name,
          description: input.description,
          created_by: actor.via === 'system' ? null : actor.userId,
          now: at,
        });
        const owner = ownerId ?? (actor.via === 'system' ? undefined : actor.userId);
        if (owner) {
          await insertMember(trx, {
            project_id: created.id,
            user_id: owner,
            role: 'owner',
            now: at,
          });
        }
        await recordChange(
          trx,
          actor,
          'project.create',
          { projectId: created.id },
          { name: created.name },
        );
        return created;
      });
      return { ...project, role: actor.via === 'system' ? null : 'owner' };
    },

    async getProject(actor, projectId) {
      await requireRole(actor, projectId, 'viewer');
      return withRole(actor, projectId);
    },

    async updateProject(actor, projectId, input) {
      await requireRole(actor, projectId, 'owner');
      await db.transaction().execute(async (trx) => {
        const updated = await updateProjectRow(trx, projectId, input, now());
        if (!updated) throw notFound('project', projectId);
        await recordChange(trx, actor, 'project.update', { projectId }, { changes: input });
      });
      return withRole(actor, projectId);
    },

    async deleteProject(actor, projectId) {
      await requireRole(actor, projectId, 'owner');
      await db.transaction().execute(async (trx) => {
        if (!(await markProjectDeleted(trx, projectId, now())))
          throw notFound('project', projectId);
        await recordChange(trx, actor, 'project.delete', { projectId });
      });
    },

    async listMembers(actor, projectId) {
      await requireRole(actor, projectId, 'viewer');
      return listMembers(db, projectId);
    },

    async addMember(actor, projectId, input) {
      await requireRole(actor, projectId, 'owner');
      const userId = await findActiveUserIdByEmail(db, input.email);
      if (!userId) throw notFound('user');
      await db.transaction().execute(async (trx) => {
        if (!(await lockProject(trx, projectId))) throw notFound('project', projectId);
        if (await findMember(trx, projectId, userId)) {
          throw conflict('This user is already a member; change their role instead', { userId });
        }
        await insertMember(trx, {
          project_id: projectId,
          user_id: userId,
          role: input.role,
          now: now(),
        });
        await recordChange(
          trx,
          actor,
          'member.add',
          { projectId, memberId: userId },
          { role: input.role },
        );
      });
      return getMember(projectId, userId);
    },

    async updateMember(actor, projectId, userId, role) {
      await requireRole(actor, projectId, 'owner');
      const before = await getMember(projectId, userId);
      await db.transaction().execute(async (trx) => {
        if (!(await lockProject(trx, projectId))) throw notFound('project', projectId);
        if (
          before.role === 'owner' &&
          role !== 'owner' &&
          (await countOwners(trx, projectId)) <= 1
        ) {
          throw conflict('A project keeps at least one owner; make someone else owner first');
        }
        if (!(await updateMemberRole(trx, projectId, userId, role, now()))) {
          throw notFound('member', userId);
        }
        await recordChange(
          trx,
          actor,
          'member.update',
          { projectId, memberId: userId },
          { from: before.role, to: role },
        );
      });
      return getMember(projectId, userId);
    },

    async removeMember(actor, projectId, userId) {
      const leaving = userId === actor.userId;
      await requireRole(actor, projectId, leaving ? 'viewer' : 'owner');
      const member = await getMember(projectId, userId);
      await db.transaction().execute(async (trx) => {
        if (!(await lockProject(trx, projectId))) throw notFound('project', projectId);
        if (member.role === 'owner' && (await countOwners(trx, projectId)) <= 1) {
          throw conflict('A project keeps at least one owner; make someone else owner first');
        }
        if (!(await deleteMember(trx, projectId, userId))) throw notFound('member', userId);
        await recordChange(
          trx,
          actor,
          leaving ? 'member.leave' : 'member.remove',
          { projectId, memberId: userId },
          { role: member.role },
        );
      });
    },
  };
}
