import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { presentUser } from './auth-presenter.ts';
import {
  createUserBody,
  updateUserBody,
  userListQuery,
  userListSchema,
  userParams,
  userSchema,
} from './auth-schema.ts';
import type { UserService } from './user-service.ts';

/** Instance administration of accounts. */
export const userRoutes: FastifyPluginAsyncZod<{ users: UserService }> = async (app, options) => {
  const { users } = options;
  const tags = ['users'];

  app.get(
    '/api/users',
    {
      schema: {
        tags,
        summary: 'All accounts (instance admins)',
        querystring: userListQuery,
        response: { 200: userListSchema },
      },
    },
    async (request) => {
      const rows = await users.list(request.actor, request.query);
      return {
        items: rows.map(presentUser),
        nextAfter: rows.length === request.query.limit ? (rows.at(-1)?.id ?? null) : null,
      };
    },
  );

  app.post(
    '/api/users',
    {
      schema: {
        tags,
        summary: 'Create an account (instance admins)',
        body: createUserBody,
        response: { 201: userSchema },
      },
    },
    async (request, reply) =>
      reply.status(201).send(presentUser(await users.create(request.actor, request.body))),
  );

  app.get(
    '/api/users/:userId',
    {
      schema: {
        tags,
        summary: 'One account (instance admins)',
        params: userParams,
        response: { 200: userSchema },
      },
    },
    async (request) => presentUser(await users.get(request.actor, request.params.userId)),
  );

  app.patch(
    '/api/users/:userId',
    {
      schema: {
        tags,
        summary: 'Rename, promote, demote, disable or enable an account (instance admins)',
        params: userParams,
        body: updateUserBody,
        response: { 200: userSchema },
      },
    },
    async (request) =>
      presentUser(await users.update(request.actor, request.params.userId, request.body)),
  );
};
