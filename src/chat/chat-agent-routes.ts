import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import {
  agentParams,
  agentSchema,
  agentVersionSchema,
  agentWithTotalsSchema,
  createAgentBody,
  updateAgentBody,
} from './chat-agent-schema.ts';
import type { AgentService } from './chat-agent-service.ts';
import { chatRoute } from './chat-route-helpers.ts';
import { projectParams } from './chat-schema.ts';

/** Agents over REST (docs/chat.md "Agents"): CRUD, where an edit adds a version. */
export const agentRoutes: FastifyPluginAsyncZod<{ agents: AgentService }> = async (
  app,
  options,
) => {
  const { agents } = options;
  const base = '/api/projects/:projectId/chat/agents';
  const one = `${base}/:agentId`;

  app.get(
    base,
    chatRoute('Agents of the project, by name, each at its current version (viewer)', {
      params: projectParams,
      response: { 200: z.object({ items: z.array(agentWithTotalsSchema) }) },
    }),
    async (request) => ({
      items: await agents.listAgents(request.actor, request.params.projectId),
    }),
  );

  app.post(
    base,
    chatRoute('Create an agent: instructions, model, parameters, tools (editor)', {
      params: projectParams,
      body: createAgentBody,
      response: { 201: agentSchema },
    }),
    async (request, reply) =>
      reply
        .status(201)
        .send(await agents.createAgent(request.actor, request.params.projectId, request.body)),
  );

  app.get(
    one,
    chatRoute('One agent at its current version, with what its replies cost (viewer)', {
      params: agentParams,
      response: { 200: agentWithTotalsSchema },
    }),
    async (request) =>
      agents.getAgent(request.actor, request.params.projectId, request.params.agentId),
  );

  app.put(
    one,
    chatRoute(
      'Save a new version of an agent, with the version you saw (editor; stale → 409; running replies keep theirs)',
      {
        params: agentParams,
        body: updateAgentBody,
        response: { 200: agentSchema },
      },
    ),
    async (request) =>
      agents.updateAgent(
        request.actor,
        request.params.projectId,
        request.params.agentId,
        request.body,
      ),
  );

  app.delete(
    one,
    chatRoute('Delete an agent (editor); replies that ran with it keep their version', {
      description:
        'An agent a workflow uses answers 409 with `details.usedBy` naming the workflows, unless `force=true` (the forced delete is audited).',
      params: agentParams,
      querystring: z.object({ force: z.enum(['true', 'false']).optional() }),
      response: { 204: z.null().describe('Deleted') },
    }),
    async (request, reply) => {
      await agents.deleteAgent(request.actor, request.params.projectId, request.params.agentId, {
        force: request.query.force === 'true',
      });
      return reply.status(204).send(null);
    },
  );

  app.get(
    `${one}/versions`,
    chatRoute('Every version of an agent, newest first (viewer)', {
      params: agentParams,
      response: { 200: z.object({ items: z.array(agentVersionSchema) }) },
    }),
    async (request) => ({
      items: await agents.listVersions(
        request.actor,
        request.params.projectId,
        request.params.agentId,
      ),
    }),
  );
};
