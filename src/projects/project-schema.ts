import { z } from 'zod';
import { PROJECT_ROLES } from '../access/project-access.ts';
import { multilineText, nameText } from '../platform/text-schema.ts';

export const projectName = nameText();
export const projectDescription = multilineText(2000);

export const projectRole = z.enum(PROJECT_ROLES);

export const projectIdParams = z.object({ projectId: z.string().max(100) });
export const memberParams = z.object({
  projectId: z.string().max(100),
  userId: z.string().max(100),
});

export const createProjectBody = z.strictObject({
  name: projectName,
  description: projectDescription.default(''),
});
export type CreateProjectInput = z.infer<typeof createProjectBody>;

export const updateProjectBody = z
  .strictObject({ name: projectName.optional(), description: projectDescription.optional() })
  .refine((body) => body.name !== undefined || body.description !== undefined, {
    message: 'name or description is required',
  });
export type UpdateProjectInput = z.infer<typeof updateProjectBody>;

export const addMemberBody = z.strictObject({
  email: z.email().max(254).toLowerCase(),
  role: projectRole,
});
export type AddMemberInput = z.infer<typeof addMemberBody>;

export const updateMemberBody = z.strictObject({ role: projectRole });

export const projectSchema = z.object({
  id: z.uuid(),
  name: z.string(),
  description: z.string(),
  role: projectRole.nullable().describe('Your role; null when you see it as an instance admin.'),
  createdAt: z.iso.datetime(),
  updatedAt: z.iso.datetime(),
});

export const projectListSchema = z.object({ items: z.array(projectSchema) });

export const memberSchema = z.object({
  userId: z.uuid(),
  email: z.string(),
  displayName: z.string(),
  role: projectRole,
  addedAt: z.iso.datetime(),
});

export const memberListSchema = z.object({ items: z.array(memberSchema) });
