import type { AuditRecorder } from '../access/audit-recorder.ts';
import type { ProjectAccess } from '../access/project-access.ts';
import type { LlmModule } from '../llm/llm-module.ts';
import type { CacheInvalidation } from '../platform/cache-invalidation.ts';
import type { Config, LlmConfig } from '../platform/config.ts';
import type { Database } from '../platform/db/database.ts';
import type { Logger } from '../platform/logger.ts';
import { createGatewayService } from './gateway-service.ts';
import { createGatewayStore } from './gateway-store.ts';

/**
 * Wires src/gateway over the LLM module: the key store, the service, and a sweep of old rate
 * windows. Routes: `gatewayApiRoutes` (/v1, wire formats) and `gatewayKeyRoutes` (key admin).
 */
export function createGatewayModule(deps: {
  database: Database;
  llm: LlmModule;
  llmConfig: LlmConfig;
  gatewayConfig: Config['gateway'];
  access: ProjectAccess;
  audit: AuditRecorder;
  logger: Logger;
  now?: () => number;
  /** Servers sharing a PostgreSQL: a key changed or revoked here is dropped from their caches. */
  invalidation?: CacheInvalidation | undefined;
}) {
  const logger = deps.logger.child({ module: 'gateway' });
  const service = createGatewayService({
    db: deps.database.db,
    store: createGatewayStore(deps.database.db),
    llm: deps.llm.llm,
    admin: deps.llm.admin,
    access: deps.access,
    audit: deps.audit,
    logger,
    now: deps.now ?? Date.now,
    invalidation: deps.invalidation,
    defaultMaxOutputTokens: deps.llmConfig.defaultMaxOutputTokens,
    concurrencyPerKey: deps.gatewayConfig.concurrencyPerKey,
  });
  const sweeper = setInterval(() => {
    service.sweep().catch((error: unknown) => logger.warn({ err: error }, 'gateway sweep failed'));
  }, 600_000);
  sweeper.unref();
  return {
    service,
    close(): void {
      clearInterval(sweeper);
    },
  };
}

export type GatewayModule = ReturnType<typeof createGatewayModule>;

declare module 'fastify' {
  interface FastifyInstance {
    /** The gateway: keys for outside apps and the /v1 calls they make (docs/gateway.md). */
    readonly gateway: GatewayModule;
  }
}
