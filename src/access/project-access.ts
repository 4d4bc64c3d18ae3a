import type { Actor } from './actor.ts';

/**
 * Roles in a project, weakest first. viewer reads; editor reads and writes data; owner also
 * manages members, providers, budgets and deletes the project.
 * Contract shared by all features — change it only with every caller.
 */
export const PROJECT_ROLES = ['viewer', 'editor', 'owner'] as const;
export type ProjectRole = (typeof PROJECT_ROLES)[number];

/**
 * The access check every project-scoped use case makes on its first line:
 *   await access.requireRole(actor, projectId, 'editor');
 * A project the actor is not a member of (or that does not exist) throws NOT_FOUND — the
 * same answer, so ids cannot be probed. A member whose role is too weak gets FORBIDDEN.
 * An API key without the scope the role needs (viewer → read, editor → write, owner → admin)
 * gets FORBIDDEN. Instance admins pass every check.
 */
export interface ProjectAccess {
  requireRole(actor: Actor, projectId: string, minimum: ProjectRole): Promise<ProjectRole>;
}
