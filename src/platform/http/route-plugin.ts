import type { FastifyPluginOptions } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { type RouteTable, routeTable } from './route-definition.ts';

/**
 * A feature's routes as a Fastify plugin: `register` gets the route table under `tags` and the
 * options the app registers the plugin with (the feature's services). Routes files open with it
 * instead of each spelling out the plugin, the options and the table.
 */
export function routePlugin<Options extends FastifyPluginOptions>(
  tags: string[],
  register: (route: RouteTable, options: Options) => void,
): FastifyPluginAsyncZod<Options> {
  return async (app, options) => {
    register(routeTable(app, tags), options);
  };
}
