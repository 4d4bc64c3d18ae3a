import type { z } from 'zod';
import { isoTime as iso } from '../platform/iso-time.ts';
import type { memberSchema, projectSchema } from './project-schema.ts';
import type { MemberRow, ProjectWithRole } from './project-store.ts';

/** Every project field that leaves the server. */
export function presentProject(project: ProjectWithRole): z.infer<typeof projectSchema> {
  return {
    id: project.id,
    name: project.name,
    description: project.description,
    role: project.role,
    createdAt: iso(project.created_at),
    updatedAt: iso(project.updated_at),
  };
}

export function presentMember(member: MemberRow): z.infer<typeof memberSchema> {
  return {
    userId: member.user_id,
    email: member.email,
    displayName: member.display_name,
    role: member.role,
    addedAt: iso(member.created_at),
  };
}
