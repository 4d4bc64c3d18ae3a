import { z } from 'zod';
import { routePlugin } from '../platform/http/route-plugin.ts';
import { presentMember, presentProject } from './project-presenter.ts';
import {
  addMemberBody,
  createProjectBody,
  memberListSchema,
  memberParams,
  memberSchema,
  projectIdParams,
  projectListSchema,
  projectSchema,
  updateMemberBody,
  updateProjectBody,
} from './project-schema.ts';
import type { ProjectService } from './project-service.ts';

export const projectRoutes = routePlugin<{ projects: ProjectService }>(
  ['projects'],
  (route, { projects }) => {
    route.get(
      '/api/projects',
      {
        summary: 'Projects you are a member of (every project for instance admins)',
        response: projectListSchema,
      },
      async (request) => ({
        items: (await projects.listProjects(request.actor)).map(presentProject),
      }),
    );

    route.post(
      '/api/projects',
      {
        summary: 'Create a project; you become its owner',
        body: createProjectBody,
        response: projectSchema,
        status: 201,
      },
      async (request) => {
        const project = await projects.createProject(request.actor, request.body);
        return presentProject(project);
      },
    );

    route.get(
      '/api/projects/:projectId',
      { summary: 'One project (viewer)', params: projectIdParams, response: projectSchema },
      async (request) =>
        presentProject(await projects.getProject(request.actor, request.params.projectId)),
    );

    route.patch(
      '/api/projects/:projectId',
      {
        summary: 'Rename or describe a project (owner)',
        params: projectIdParams,
        body: updateProjectBody,
        response: projectSchema,
      },
      async (request) =>
        presentProject(
          await projects.updateProject(request.actor, request.params.projectId, request.body),
        ),
    );

    route.delete(
      '/api/projects/:projectId',
      {
        summary: 'Delete a project (owner)',
        params: projectIdParams,
        response: z.null().describe('Deleted'),
        status: 204,
      },
      async (request) => {
        await projects.deleteProject(request.actor, request.params.projectId);
      },
    );

    route.get(
      '/api/projects/:projectId/members',
      {
        summary: 'Members and their roles (viewer)',
        params: projectIdParams,
        response: memberListSchema,
      },
      async (request) => ({
        items: (await projects.listMembers(request.actor, request.params.projectId)).map(
          presentMember,
        ),
      }),
    );

    route.post(
      '/api/projects/:projectId/members',
      {
        summary: 'Add a user by e-mail with a role (owner)',
        params: projectIdParams,
        body: addMemberBody,
        response: memberSchema,
        status: 201,
      },
      async (request) => {
        const member = await projects.addMember(
          request.actor,
          request.params.projectId,
          request.body,
        );
        return presentMember(member);
      },
    );

    route.patch(
      '/api/projects/:projectId/members/:userId',
      {
        summary: "Change a member's role (owner)",
        params: memberParams,
        body: updateMemberBody,
        response: memberSchema,
      },
      async (request) =>
        presentMember(
          await projects.updateMember(
            request.actor,
            request.params.projectId,
            request.params.userId,
            request.body.role,
          ),
        ),
    );

    route.delete(
      '/api/projects/:projectId/members/:userId',
      {
        summary: 'Remove a member (owner), or leave a project yourself',
        params: memberParams,
        response: z.null().describe('Removed'),
        status: 204,
      },
      async (request) => {
        await projects.removeMember(request.actor, request.params.projectId, request.params.userId);
      },
    );
  },
);
