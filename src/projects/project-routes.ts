import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
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

export const projectRoutes: FastifyPluginAsyncZod<{ projects: ProjectService }> = async (
  app,
  options,
) => {
  const { projects } = options;
  const tags = ['projects'];

  app.get(
    '/api/projects',
    {
      schema: {
        tags,
        summary: 'Projects you are a member of (every project for instance admins)',
        response: { 200: projectListSchema },
      },
    },
    async (request) => ({
      items: (await projects.listProjects(request.actor)).map(presentProject),
    }),
  );

  app.post(
    '/api/projects',
    {
      schema: {
        tags,
        summary: 'Create a project; you become its owner',
        body: createProjectBody,
        response: { 201: projectSchema },
      },
    },
    async (request, reply) => {
      const project = await projects.createProject(request.actor, request.body);
      return reply.status(201).send(presentProject(project));
    },
  );

  app.get(
    '/api/projects/:projectId',
    {
      schema: {
        tags,
        summary: 'One project (viewer)',
        params: projectIdParams,
        response: { 200: projectSchema },
      },
    },
    async (request) =>
      presentProject(await projects.getProject(request.actor, request.params.projectId)),
  );

  app.patch(
    '/api/projects/:projectId',
    {
      schema: {
        tags,
        summary: 'Rename or describe a project (owner)',
        params: projectIdParams,
        body: updateProjectBody,
        response: { 200: projectSchema },
      },
    },
    async (request) =>
      presentProject(
        await projects.updateProject(request.actor, request.params.projectId, request.body),
      ),
  );

  app.delete(
    '/api/projects/:projectId',
    {
      schema: {
        tags,
        summary: 'Delete a project (owner)',
        params: projectIdParams,
        response: { 204: z.null().describe('Deleted') },
      },
    },
    async (request, reply) => {
      await projects.deleteProject(request.actor, request.params.projectId);
      return reply.status(204).send(null);
    },
  );

  app.get(
    '/api/projects/:projectId/members',
    {
      schema: {
        tags,
        summary: 'Members and their roles (viewer)',
        params: projectIdParams,
        response: { 200: memberListSchema },
      },
    },
    async (request) => ({
      items: (await projects.listMembers(request.actor, request.params.projectId)).map(
        presentMember,
      ),
    }),
  );

  app.post(
    '/api/projects/:projectId/members',
    {
      schema: {
        tags,
        summary: 'Add a user by e-mail with a role (owner)',
        params: projectIdParams,
        body: addMemberBody,
        response: { 201: memberSchema },
      },
    },
    async (request, reply) => {
      const member = await projects.addMember(
        request.actor,
        request.params.projectId,
        request.body,
      );
      return reply.status(201).send(presentMember(member));
    },
  );

  app.patch(
    '/api/projects/:projectId/members/:userId',
    {
      schema: {
        tags,
        summary: "Change a member's role (owner)",
        params: memberParams,
        body: updateMemberBody,
        response: { 200: memberSchema },
      },
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

  app.delete(
    '/api/projects/:projectId/members/:userId',
    {
      schema: {
        tags,
        summary: 'Remove a member (owner), or leave a project yourself',
        params: memberParams,
        response: { 204: z.null().describe('Removed') },
      },
    },
    async (request, reply) => {
      await projects.removeMember(request.actor, request.params.projectId, request.params.userId);
      return reply.status(204).send(null);
    },
  );
};
