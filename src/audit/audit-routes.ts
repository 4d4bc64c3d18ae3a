import { z } from 'zod';
import { routePlugin } from '../platform/http/route-plugin.ts';
import { presentAuditPage } from './audit-presenter.ts';
import { adminAuditQuerySchema, auditPageSchema, auditQuerySchema } from './audit-schema.ts';
import type { AuditService } from './audit-service.ts';

export const auditRoutes = routePlugin<{ audit: AuditService }>(['audit'], (route, { audit }) => {
  route.get(
    '/api/projects/:projectId/audit',
    {
      summary: "A project's audit log, newest first (owners and instance admins)",
      params: z.object({ projectId: z.string().max(100) }),
      query: auditQuerySchema,
      response: auditPageSchema,
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

  route.get(
    '/api/audit',
    {
      summary: 'The whole audit log: sign-ins, users, every project (instance admins)',
      query: adminAuditQuerySchema,
      response: auditPageSchema,
    },
    async (request) => {
      const { userId, ...query } = request.query;
      const rows = await audit.listEntries(request.actor, { ...query, actorUserId: userId });
      return presentAuditPage(rows, query.limit, { withIp: true });
    },
  );
});
