import { routePlugin } from '../platform/http/route-plugin.ts';
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
export const userRoutes = routePlugin<{ users: UserService }>(['users'], (route, { users }) => {
  route.get(
    '/api/users',
    { summary: 'All accounts (instance admins)', query: userListQuery, response: userListSchema },
    async (request) => {
      const rows = await users.list(request.actor, request.query);
      return {
        items: rows.map(presentUser),
        nextAfter: rows.length === request.query.limit ? (rows.at(-1)?.id ?? null) : null,
      };
    },
  );

  route.post(
    '/api/users',
    {
      summary: 'Create an account (instance admins)',
      body: createUserBody,
      response: userSchema,
      status: 201,
    },
    async (request) => presentUser(await users.create(request.actor, request.body)),
  );

  route.get(
    '/api/users/:userId',
    { summary: 'One account (instance admins)', params: userParams, response: userSchema },
    async (request) => presentUser(await users.get(request.actor, request.params.userId)),
  );

  route.patch(
    '/api/users/:userId',
    {
      summary: 'Rename, promote, demote, disable or enable an account (instance admins)',
      params: userParams,
      body: updateUserBody,
      response: userSchema,
    },
    async (request) =>
      presentUser(await users.update(request.actor, request.params.userId, request.body)),
  );
});
