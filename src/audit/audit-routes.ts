import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { presentAuditPage } from './audit-presenter.ts';
import { adminAuditQuerySchema, auditPageSchema, auditQuerySchema } from './audit-schema.ts';
import type { AuditService } from './audit-service.ts';

export const auditRoutes: FastifyPluginAsyncZod<{ audit: AuditService }> = async (app, options) => {
  const { audit } = options;

  app.get(
    '/api/projects/:projectId/audit',
    {
      schema: {
        tags: ['audit'],
        summary: "A project's audit log, newest first (owners and instance admins)",
        params: z.object({ projectId: z.string().max(100) }),
        querystring: auditQuerySchema,
        response: { 200: auditPageSchema },
      },
    },
    async (request) => {
      const { userId, ...query } = request.query;
      const rows = await audit.listProjectEntries(request.actor, request.params.projectId, {
        ...query,
        actorUserId: userId,
      });
      return presentAuditPage(rows, query.limit, { withIp: false });
    },
  );

  app.get(
    '/api/audit',
    {
      schema: {
        tags: ['audit'],
        summary: 'The whole audit log: sign-ins, users, every project (instance admins)',
        querystring: adminAuditQuerySchema,
        response: { 200: auditPageSchema },
      },
    },
    async (request) => {
      const { userId, ...query } = request.query;
      const rows = await audit.listEntries(request.actor, { ...query, actorUserId: userId });
      return presentAuditPage(rows, query.limit, { withIp: true });
    },
  );
};
