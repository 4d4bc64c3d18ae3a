import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyInstance } from 'fastify';
import {
  jsonSchemaTransform,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import { auditRoutes } from './audit/audit-routes.ts';
import { installSecurity, registerAuthRoutes } from './auth/auth-module.ts';
import { agentRoutes } from './chat/chat-agent-routes.ts';
import { chatAttachmentRoutes } from './chat/chat-attachment-routes.ts';
import { chatRoutes } from './chat/chat-routes.ts';
import { chatTransferRoutes } from './chat/chat-transfer-routes.ts';
import { documentRoutes } from './documents/document-routes.ts';
import {
  type CoreServices,
  createFeatures,
  type FeatureOptions,
  type Features,
} from './features.ts';
import { gatewayApiRoutes, gatewayKeyRoutes } from './gateway/gateway-routes.ts';
import { llmRoutes } from './llm/llm-routes.ts';
import { monitorRoutes } from './monitor/monitor-routes.ts';
import { AppError, serviceUnavailable } from './platform/app-error.ts';
import { forwardingKey, installDatasetForwarding } from './platform/datasets/dataset-forwarding.ts';
import { isOverflowConnection, limitConnectionsPerIp } from './platform/http/connection-limits.ts';
import { errorEnvelope, toAppError } from './platform/http/error-envelope.ts';
import { healthRoutes, servedByRole } from './platform/http/health-routes.ts';
import { installJsonBodyParser } from './platform/http/json-body.ts';
import { enterRequestContext } from './platform/http/request-context.ts';
import { REQUEST_ID_HEADER, requestIdFor } from './platform/http/request-id.ts';
import { RequestLogController } from './platform/http/request-logging.ts';
import { webAssets } from './platform/http/web-assets.ts';
import { createMetrics } from './platform/metrics.ts';
import type { Platform } from './platform/platform.ts';
import { pingRedis } from './platform/redis.ts';
import { APP_VERSION } from './platform/version.ts';
import { projectRoutes } from './projects/project-routes.ts';
import { generationRoutes } from './sheets/generation/generation-routes.ts';
import { hubRoutes } from './sheets/hub/hub-routes.ts';
import { imageRoutes } from './sheets/images/image-routes.ts';
import { sheetRoutes } from './sheets/sheet-routes.ts';
import { viewRoutes } from './sheets/views/view-routes.ts';
import { workflowRoutes } from './workflows/workflow-routes.ts';

export type App = FastifyInstance & { withTypeProvider(): unknown };

export { APP_VERSION };

/**
 * Builds the HTTP app over an opened platform. No side effects beyond the returned instance:
 * main.ts listens, tests use `app.inject()`. `options` reach createFeatures (tests swap clocks
 * and waits there).
 */
export async function buildApp(platform: Platform, options: FeatureOptions = {}) {
  const { config, logger } = platform;
  const app = Fastify({
    loggerInstance: logger,
    genReqId: requestIdFor,
    logController: new RequestLogController(),
    bodyLimit: config.bodyLimit,
    // We answer requests that arrive while closing ourselves, with the error envelope.
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    trustProxy: false,
    // Slow clients: the whole request (body included) and its headers each have a deadline,
    // checked every 2 s rather than Node's 30 s (docs/security.md "Slow and greedy clients").
    requestTimeout: config.http.requestTimeoutMs,
    http: {
      requestTimeout: config.http.requestTimeoutMs,
      headersTimeout: Math.min(config.http.headersTimeoutMs, config.http.requestTimeoutMs),
      connectionsCheckingInterval: 2_000,
    },
  }).withTypeProvider<ZodTypeProvider>();
  limitConnectionsPerIp(
    app.server,
    config.http.maxConnectionsPerIp,
    logger,
    config.http.overflowConnectionsPerIp,
  );

  installJsonBodyParser(app);
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);

  const metrics = createMetrics({ queueDepth: () => platform.jobs.depth() });
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });

  app.addHook('onRequest', async (request, reply) => {
    reply.header(REQUEST_ID_HEADER, request.id);
    if (closing) {
      reply.header('connection', 'close');
      throw serviceUnavailable('Server is shutting down');
    }
    // A connection past the per-address bound serves only the routes that allow it.
    if (
      isOverflowConnection(request.raw.socket) &&
      !request.routeOptions.config.connectionOverflow
    ) {
      reply.header('connection', 'close');
      throw new AppError('RATE_LIMITED', 'Too many open connections from this address', {
        retryable: true,
        headers: { 'retry-after': '1' },
      });
    }
    servedByRole(config.role, request);
  });

  // While draining, every response closes its connection so keep-alive sockets do not
  // hold shutdown open until their idle timeout.
  app.addHook('onSend', async (_request, reply) => {
    if (closing) reply.header('connection', 'close');
  });

  app.addHook('onResponse', async (request, reply) => {
    metrics.httpDuration.observe(
      {
        method: request.method,
        // The route pattern, never the raw URL, so label cardinality stays bounded.
        route: request.routeOptions.url ?? 'unmatched',
        status_code: String(reply.statusCode),
      },
      reply.elapsedTime / 1000,
    );
  });

  app.setErrorHandler(async (error, request, reply) => {
    const appError = toAppError(error);
    if (appError.status >= 500) request.log.error({ err: error }, appError.message);
    else request.log.info({ code: appError.code, err: error }, 'request refused');
    if (appError.headers) reply.headers(appError.headers);
    // A request refused before its body was read (too large, unauthenticated, wrong type)
    // closes its connection: otherwise Node drains the rest of the body first, and a client
    // still streaming it never sees the end of its request.
    if (appError.status === 413 || request.raw.complete === false)
      reply.header('connection', 'close');
    return reply.status(appError.status).send(errorEnvelope(appError, request.id));
  });

  app.setNotFoundHandler(async (request, reply) => {
    const body = errorEnvelope(
      toAppError(Object.assign(new Error('not found'), { statusCode: 404 })),
      request.id,
    );
    body.error.message = `No route ${request.method} ${request.url.split('?')[0]}`;
    return reply.status(404).send(body);
  });

  // Every feature, wired once (src/features.ts). Security headers, rate limits, sessions,
  // API keys, CSRF come before any route, so every route below needs a session or API key
  // unless it sets `config: { public: true }` (docs/security.md).
  const features = createFeatures(platform, { ...options, registry: metrics.registry });
  const { core } = features;
  app.decorate('features', features);
  app.decorate('services', core);
  await installSecurity(app, config, logger, core.accounts);
  // Before any dataset route is added: requests for a dataset another server holds go there.
  installDatasetForwarding(app, {
    leases: platform.datasetLeases,
    servers: platform.datasetServers,
    key: config.secret.current ? forwardingKey(config.secret.current) : undefined,
    logger,
  });
  platform.runHandoff.install(app);
  app.addHook('preHandler', enterRequestContext);

  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Brain Cells API',
        version: APP_VERSION,
        description:
          'Every error answers `{"error":{"code","message","retryable","details"?,"requestId"}}`.',
      },
    },
    transform: jsonSchemaTransform,
  });
  // The API description and its docs page are public: they describe the API, not data.
  await app.register(async (docs) => {
    docs.addHook('onRoute', (route) => {
      route.config = { ...route.config, public: true };
    });
    await docs.register(fastifySwaggerUi, { routePrefix: '/api/docs' });
  });
  app.get('/api/openapi.json', { schema: { hide: true }, config: { public: true } }, async () =>
    app.swagger(),
  );

  await app.register(healthRoutes, {
    metrics,
    checks: {
      postgres: () => platform.database.ping(),
      duckdb: () => platform.duckdb.ping(),
      jobs: () => platform.jobs.ping(),
      ...(platform.redis ? { redis: () => pingRedis(platform.redis!) } : {}),
    },
  });

  // Jobs are registered before the queue starts (server.ts starts it after buildApp); runs a
  // stopped process left are recovered once it runs; closing hands running runs back.
  features.registerJobs();
  app.addHook('onReady', features.start);
  app.addHook('preClose', features.stopWork);
  app.addHook('onClose', features.close);
  // Tests, benches and other features' jobs reach the features through these.
  app.decorate('llm', features.llm);
  app.decorate('sheets', features.sheets);
  app.decorate('generation', features.generation);
  app.decorate('monitor', features.monitor);
  app.decorate('documents', features.documents);
  app.decorate('gateway', features.gateway);
  app.decorate('chat', features.chat.service);

  // ── Feature routes ─────────────────────────────────────────────────────────────────────
  // One block per feature, in the order createFeatures builds them. A new feature adds its
  // module to createFeatures (src/features.ts) and its routes here.
  await registerAuthRoutes(app, config, core.accounts);
  await app.register(projectRoutes, { projects: core.projects });
  await app.register(auditRoutes, { audit: core.auditLog });
  await app.register(llmRoutes, { admin: features.llm.admin });
  await app.register(gatewayApiRoutes, { gateway: features.gateway.service });
  await app.register(gatewayKeyRoutes, { gateway: features.gateway.service });
  await app.register(sheetRoutes, {
    sheets: features.sheets.sheets,
    imports: features.sheets.imports,
    exports: features.sheets.exports,
    events: features.events,
    duckdb: platform.duckdb,
    dataDir: config.dataDir,
    importMaxBytes: config.sheets.importMaxBytes,
  });
  await app.register(viewRoutes, { views: features.sheets.views });
  await app.register(imageRoutes, {
    images: features.images.images,
    exports: features.images.exports,
  });
  await app.register(documentRoutes, {
    documents: features.documents.documents,
    maxFileBytes: config.documents.maxFileBytes,
  });
  await app.register(generationRoutes, {
    generation: features.generation,
    rows: features.generation.rows,
  });
  await app.register(hubRoutes, { hub: features.hub.service });
  await app.register(monitorRoutes, {
    monitor: features.monitor,
    forwarding: {
      key: config.secret.current ? forwardingKey(config.secret.current) : undefined,
      logger,
    },
  });
  await app.register(chatRoutes, { chat: features.chat.service, events: features.events });
  await app.register(agentRoutes, { agents: features.chat.agents });
  await app.register(chatTransferRoutes, { transfer: features.chat.transfer });
  if (features.chat.attachments)
    await app.register(chatAttachmentRoutes, { attachments: features.chat.attachments });
  await app.register(workflowRoutes, {
    workflows: features.workflows.service,
    events: features.events,
  });

  // The web app at / (and its client-side routes); registered last, after every /api route.
  await webAssets(app);

  return app;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Every feature of this app (src/features.ts). */
    readonly features: Features;
    /** The core services (accounts, projects, audit, secrets), for tests and features. */
    readonly services: CoreServices;
  }
}
