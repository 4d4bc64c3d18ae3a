import path from 'node:path';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyInstance } from 'fastify';
import {
  jsonSchemaTransform,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import { createChatModule } from './chat/chat-module.ts';
import { chatRoutes } from './chat/chat-routes.ts';
import { documentRoutes } from './documents/document-routes.ts';
import { createDocumentsModule } from './documents/documents-module.ts';
import { createGatewayModule } from './gateway/gateway-module.ts';
import { gatewayApiRoutes, gatewayKeyRoutes } from './gateway/gateway-routes.ts';
import { createLlmModule } from './llm/llm-module.ts';
import { llmRoutes } from './llm/llm-routes.ts';
import { createIngestLeases } from './monitor/monitor-lease.ts';
import { monitorRoutes } from './monitor/monitor-routes.ts';
import { createMonitorService } from './monitor/monitor-service.ts';
import { serviceUnavailable } from './platform/app-error.ts';
import { createEventLog } from './platform/event-log.ts';
import { createInProcessEventBus } from './platform/events.ts';
import { limitConnectionsPerIp } from './platform/http/connection-limits.ts';
import { errorEnvelope, toAppError } from './platform/http/error-envelope.ts';
import { healthRoutes } from './platform/http/health-routes.ts';
import { installJsonBodyParser } from './platform/http/json-body.ts';
import { enterRequestContext } from './platform/http/request-context.ts';
import { REQUEST_ID_HEADER, requestIdFor } from './platform/http/request-id.ts';
import { RequestLogController } from './platform/http/request-logging.ts';
import { webAssets } from './platform/http/web-assets.ts';
import { createMetrics } from './platform/metrics.ts';
import type { Platform } from './platform/platform.ts';
import { createCoreServices, installSecurity, registerCoreRoutes } from './services.ts';
import { createGenerationModule } from './sheets/generation/generation-module.ts';
import { generationRoutes } from './sheets/generation/generation-routes.ts';
import { sheetRoutes } from './sheets/sheet-routes.ts';
import { createSheetsModule } from './sheets/sheets-module.ts';
import { viewRoutes } from './sheets/views/view-routes.ts';

export type App = FastifyInstance & { withTypeProvider(): unknown };

export const APP_VERSION = '0.1.0';

/**
 * Builds the HTTP app over an opened platform. No side effects beyond the returned instance:
 * main.ts listens, tests use `app.inject()`.
 */
export async function buildApp(platform: Platform) {
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
  limitConnectionsPerIp(app.server, config.http.maxConnectionsPerIp, logger);

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

  // Security headers, rate limits, sessions, API keys, CSRF — before any route, so every
  // route below needs a session or API key unless it sets `config: { public: true }`
  // (docs/security.md). Features take what they need from `services` (src/services.ts).
  const services = createCoreServices(platform);
  await installSecurity(app, config, logger, services);
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
    },
  });

  await registerCoreRoutes(app, config, services);

  // Every LLM call goes through src/llm (docs/llm.md): features take `app.llm.llm`.
  const llm = createLlmModule({
    config: config.llm,
    database: platform.database,
    logger,
    access: services.access,
    secrets: services.secrets,
    registry: metrics.registry,
    telemetry: platform.telemetry,
  });
  app.decorate('llm', llm);
  app.addHook('onClose', llm.close);
  await app.register(llmRoutes, { admin: llm.admin });

  // ── gateway (h-llm, issue #19): OpenAI/Anthropic-compatible /v1 routes over the LLM module
  //    (docs/gateway.md). The lead moves this block into the composition root at merge. ──
  const gateway = createGatewayModule({
    database: platform.database,
    llm,
    llmConfig: config.llm,
    access: services.access,
    audit: services.audit,
    logger,
  });
  app.decorate('gateway', gateway);
  app.addHook('onClose', gateway.close);
  await app.register(gatewayApiRoutes, { gateway: gateway.service });
  await app.register(gatewayKeyRoutes, { gateway: gateway.service });
  // ── end gateway ──

  // Live views (SSE) of every feature share one event bus (src/platform/events.ts); its ids
  // and recent events are kept in the metadata database, so a restart does not force a reload.
  const events = createInProcessEventBus({
    log: createEventLog(platform.database.db),
    onError: (error, operation) => logger.warn({ err: error, operation }, 'event log failed'),
  });
  // After preClose (running runs hand their cells back, publishing): store what is pending.
  app.addHook('onClose', () => events.close());
  const sheets = createSheetsModule({ platform, access: services.access, events });
  sheets.registerJobs();
  // For jobs of other features (issue 6) and the browser tests that stream cells through it.
  app.decorate('sheets', sheets);
  app.addHook('onReady', sheets.start);
  // A sorted view's background copy must not outlive DuckDB.
  app.addHook('onClose', () => sheets.data.copiesSettled());
  await app.register(sheetRoutes, {
    sheets: sheets.sheets,
    imports: sheets.imports,
    events,
    duckdb: platform.duckdb,
    dataDir: config.dataDir,
    importMaxBytes: config.sheets.importMaxBytes,
  });
  await app.register(viewRoutes, { views: sheets.views });

  // Documents (docs/documents.md): uploads become rows of a documents collection; text
  // extraction is a job.
  const documents = createDocumentsModule({
    platform,
    access: services.access,
    sheets: sheets.sheets,
  });
  documents.registerJobs();
  app.decorate('documents', documents);
  app.addHook('onReady', documents.start);
  await app.register(documentRoutes, {
    documents: documents.documents,
    maxFileBytes: config.documents.maxFileBytes,
  });

  // AI columns (docs/ai-columns.md): runs are pg-boss jobs; close hands running runs back.
  const generation = createGenerationModule({
    platform,
    access: services.access,
    audit: services.audit,
    sheets: sheets.sheets,
    llm,
    events,
  });
  generation.registerJobs();
  app.decorate('generation', generation);
  app.addHook('onReady', generation.start);
  app.addHook('preClose', generation.close);
  await app.register(generationRoutes, { generation: generation.service, rows: generation.rows });

  // Monitor (docs/monitor.md): coding-agent logs imported into DuckDB, read back as reports.
  const monitor = createMonitorService({
    duckdb: platform.duckdb,
    access: services.access,
    roots: config.monitor.roots,
    uploadDir: path.join(config.dataDir, 'monitor-uploads'),
    ownCalls: llm.admin,
    leases: createIngestLeases(platform.database.db), // monitor: ingestion lease (issue 15)
  });
  app.decorate('monitor', monitor);
  await app.register(monitorRoutes, { monitor });

  // — chat (issue #16; docs/chat.md) — one block for the composition root to move at merge.
  const chat = createChatModule({
    platform,
    access: services.access,
    audit: services.audit,
    events,
    llm: llm.llm,
  });
  app.decorate('chat', chat.service);
  await app.register(chatRoutes, { chat: chat.service, events });
  // — end chat —

  // The web app at / (and its client-side routes); registered last, after every /api route.
  await webAssets(app);

  return app;
}
