import type { Kysely } from 'kysely';
import type { AuditRecorder } from '../access/audit-recorder.ts';
import type { ProjectAccess } from '../access/project-access.ts';
import type { DB } from '../migrations/db-schema.ts';
import { createProjectService, type ProjectService } from './project-service.ts';

/**
 * Wires projects and membership. The same service answers the `ProjectAccess` port every
 * project-scoped use case checks first: `await access.requireRole(actor, projectId, 'editor')`.
 */
export function createProjectsModule(deps: {
  db: Kysely<DB>;
  audit: AuditRecorder;
  now: () => Date;
}): { projects: ProjectService; access: ProjectAccess } {
  const projects = createProjectService(deps);
  return { projects, access: projects };
}

export type ProjectsModule = ReturnType<typeof createProjectsModule>;
