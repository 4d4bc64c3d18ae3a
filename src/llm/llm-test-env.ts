import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { sql } from 'kysely';
import { Registry } from 'prom-client';
import { beforeEach } from 'vitest';
import { registerTestSecret } from '../../test/leak-scan.ts';
import { perSuite } from '../../test/per-suite.ts';
import { rejectionOf } from '../../test/rejection.ts';
import {
  type Backend,
  createTestStorage,
  LogCapture,
  type TestStorage,
} from '../../test/test-platform.ts';
import { type FakeLlm, startFakeLlm } from '../../tools/fake-llm/fake-llm-server.ts';
import type { Actor } from '../access/actor.ts';
import { PROJECT_ROLES, type ProjectAccess, type ProjectRole } from '../access/project-access.ts';
import { AppError, forbidden, notFound } from '../platform/app-error.ts';
import { type LlmConfig, loadConfig } from '../platform/config.ts';
import { createSecretBox } from '../platform/crypto.ts';
import { type Database, openDatabase } from '../platform/db/database.ts';
import { uuidv7 } from '../platform/ids.ts';
import { createLogger } from '../platform/logger.ts';
import type { Telemetry } from '../platform/telemetry.ts';
import type { Clock } from './llm-clock.ts';
import { createLlmModule, type LlmModule } from './llm-module.ts';
import type {
  LlmMessage,
  LlmToolCallPart,
  LlmToolDefinition,
  ProviderKind,
} from './llm-provider.ts';
import type { LlmCallRequest, LlmStreamEvent } from './llm-service.ts';
import type { SharedLimitsOptions } from './llm-shared-redis.ts';
import type { UsageRow } from './llm-usage-store.ts';

/** A ProjectAccess over an in-memory role table, with the contract's answers (404 / 403). */
export class FakeProjectAccess implements ProjectAccess {
  readonly roles = new Map<string, ProjectRole>();

  grant(userId: string, projectId: string, role: ProjectRole): void {
    this.roles.set(`${userId}:${projectId}`, role);
  }

  async requireRole(actor: Actor, projectId: string, minimum: ProjectRole): Promise<ProjectRole> {
    if (actor.isAdmin) return 'owner';
    const role = this.roles.get(`${actor.userId}:${projectId}`);
    if (!role) throw notFound('project', projectId);
    if (PROJECT_ROLES.indexOf(role) < PROJECT_ROLES.indexOf(minimum)) throw forbidden();
    return role;
  }
}

export function actorFor(userId: string, isAdmin = false): Actor {
  return {
    userId,
    isAdmin,
    via: 'session',
    scopes: ['read', 'write', 'admin'],
    credentialId: undefined,
  };
}

export const FAKE_API_KEY = 'sk-test-fake-llm-key-9f8e7d6c5b4a';

export interface LlmTestEnv {
  storage: TestStorage;
  database: Database;
  fake: FakeLlm;
  module: LlmModule;
  logs: LogCapture;
  metrics: Registry;
  access: FakeProjectAccess;
  owner: Actor;
  projectId: string;
  /** A second project, for isolation tests. */
  otherProjectId: string;
  /** Provider ids created per kind, all pointed at the fake server. */
  providers: Record<ProviderKind, string>;
  /**
   * Another LLM module over the same database and provider keys, as a second server of the
   * deployment would run (closed with the env unless killed or closed first).
   */
  openPeer(sharedLimits?: SharedLimitsOptions): LlmModule;
  close(): Promise<void>;
}

export async function createUser(
  database: Database,
  email = `${uuidv7()}@example.com`,
): Promise<string> {
  const id = uuidv7();
  await sql`insert into app_user (id, email, password_hash) values (${id}, ${email}, 'x')`.execute(
    database.db,
  );
  return id;
}

export async function createProject(database: Database, name = 'Project'): Promise<string> {
  const id = uuidv7();
  await sql`insert into project (id, name) values (${id}, ${name})`.execute(database.db);
  return id;
}

/**
 * A migrated database, the fake LLM server, and the llm module over them, with one provider
 * of every kind in a fresh project owned by `owner`.
 */
export async function openLlmTestEnv(
  options: {
    backend?: Backend;
    config?: Partial<LlmConfig>;
    clock?: Clock;
    telemetry?: Telemetry;
    sharedLimits?: SharedLimitsOptions;
  } = {},
): Promise<LlmTestEnv> {
  registerTestSecret('provider-key', FAKE_API_KEY);
  const storage = await createTestStorage(options.backend ?? 'pglite');
  const database = storage.databaseUrl
    ? await openDatabase({ kind: 'postgres', connectionString: storage.databaseUrl, poolSize: 8 })
    : await openDatabase({ kind: 'pglite', dataDir: path.join(storage.dataDir, 'pg') });
  const fake = await startFakeLlm({ apiKey: FAKE_API_KEY });
  const logs = new LogCapture();
  const logger = createLogger({ level: 'debug', format: 'json', destination: logs });
  const access = new FakeProjectAccess();
  const ownerId = await createUser(database);
  const owner = actorFor(ownerId);
  const projectId = await createProject(database, 'Main');
  const otherProjectId = await createProject(database, 'Other');
  access.grant(ownerId, projectId, 'owner');
  access.grant(ownerId, otherProjectId, 'owner');
  const metrics = new Registry();
  const config: LlmConfig = {
    ...loadConfig({}, {}).llm,
    retryBaseMs: 5,
    retryMaxMs: 50,
    usageFlushMs: 20,
    ...options.config,
  };
  const secrets = createSecretBox([randomBytes(32)]);
  const module = createLlmModule({
    config,
    database,
    logger,
    access,
    secrets,
    registry: metrics,
    telemetry: options.telemetry,
    sharedLimits: options.sharedLimits,
    ...(options.clock ? { clock: options.clock } : {}),
  });
  const peers: LlmModule[] = [];
  const providers = {} as Record<ProviderKind, string>;
  for (const kind of ['openai', 'anthropic', 'huggingface', 'openai-compatible'] as const) {
    const created = await module.admin.createProvider(owner, projectId, {
      name: `fake ${kind}`,
      kind,
      baseUrl: `${fake.url}/v1`,
      apiKey: FAKE_API_KEY,
    });
    providers[kind] = created.id;
  }
  return {
    storage,
    database,
    fake,
    module,
    logs,
    metrics,
    access,
    owner,
    projectId,
    otherProjectId,
    providers,
    openPeer(sharedLimits = options.sharedLimits) {
      const peer = createLlmModule({
        config,
        database,
        logger,
        access,
        secrets,
        sharedLimits,
        ...(options.clock ? { clock: options.clock } : {}),
      });
      peers.push(peer);
      return peer;
    },
    async close() {
      for (const peer of peers) await peer.close();
      await module.close();
      await fake.close();
      await database.close();
      await storage.dispose();
    },
  };
}

type LlmTestEnvOptions = Parameters<typeof openLlmTestEnv>[0];

/** One env for the tests of the enclosing file or `describe`, the fake server reset before each. */
export function llmTestEnvPerSuite(
  options?: LlmTestEnvOptions | (() => LlmTestEnvOptions),
): LlmTestEnv {
  const env = perSuite(
    () => openLlmTestEnv(typeof options === 'function' ? options() : options),
    (opened) => opened.close(),
  );
  beforeEach(() => env.fake.reset());
  return env;
}

/** One model the fake server answers for each provider kind. */
export const FAKE_MODELS: Record<ProviderKind, string> = {
  openai: 'gpt-4o-mini',
  anthropic: 'claude-3-5-haiku-latest',
  huggingface: 'meta-llama/Llama-3.1-8B-Instruct',
  'openai-compatible': 'llama3.2',
};

/** Two tools, one with a description and a closed schema, one without either. */
export const WEATHER_TOOLS: LlmToolDefinition[] = [
  {
    name: 'get_weather',
    description: 'The weather in a city',
    inputSchema: {
      type: 'object',
      properties: { city: { type: 'string' } },
      required: ['city'],
      additionalProperties: false,
    },
  },
  {
    name: 'get_time',
    inputSchema: { type: 'object', properties: { zone: { type: 'string' } }, required: ['zone'] },
  },
];

/** One `llm_calls` row as the LLM module records it: a priced, answered first attempt. */
export function usageRowFixture(projectId: string, partial: Partial<UsageRow> = {}): UsageRow {
  return {
    id: uuidv7(),
    callId: uuidv7(),
    createdAt: new Date('2026-11-20T10:00:00Z'),
    projectId,
    userId: undefined,
    feature: 'chat',
    entityIds: {},
    providerRef: 'env:openai',
    providerKind: 'openai',
    model: 'gpt-4o-mini',
    attempt: 1,
    status: 'ok',
    errorCode: undefined,
    failureKind: undefined,
    httpStatus: undefined,
    requestId: undefined,
    finishReason: 'stop',
    cacheStatus: 'miss',
    usage: {
      uncachedInputTokens: 10,
      cacheReadTokens: 2,
      cacheWriteTokens: undefined,
      outputTokens: 5,
      reasoningTokens: undefined,
    },
    usageEstimated: false,
    costNano: 100,
    savedNano: null,
    latencyMs: 12,
    ttftMs: 3,
    ...partial,
  };
}

/** The usage rows of one call, one per attempt, after the buffered writer has flushed. */
export async function usageRowsOf(env: LlmTestEnv, callId: string) {
  await env.module.llm.flush();
  return env.database.db
    .selectFrom('llm_calls')
    .selectAll()
    .where('call_id', '=', callId)
    .orderBy('attempt')
    .execute();
}

/** The AppError a call fails with; any other outcome fails the test. */
export function failureOf(promise: Promise<unknown>): Promise<AppError> {
  return rejectionOf(AppError, promise);
}

/** Every event of a stream, and the result its closing `finish` event carries. */
export async function collectStream(env: LlmTestEnv, request: LlmCallRequest) {
  const events: LlmStreamEvent[] = [];
  for await (const event of env.module.llm.stream(request)) events.push(event);
  const finish = events.at(-1);
  if (finish?.type !== 'finish') throw new Error('no finish event');
  return { events, result: finish.result };
}

/**
 * A fresh project the env's owner owns, with one OpenAI provider pointed at `baseUrl` (the env's
 * fake server unless given): for budget tests that need a project of their own.
 */
export async function createOwnedProject(
  env: LlmTestEnv,
  name: string,
  baseUrl = `${env.fake.url}/v1`,
): Promise<{ projectId: string; providerId: string }> {
  const projectId = await createProject(env.database, name);
  env.access.grant(env.owner.userId, projectId, 'owner');
  const provider = await env.module.admin.createProvider(env.owner, projectId, {
    name: 'fake openai',
    kind: 'openai',
    baseUrl,
    apiKey: FAKE_API_KEY,
  });
  return { projectId, providerId: provider.id };
}

/**
 * A conversation after one tool call: the question, the model's call, and the caller's result
 * (21 °C), for the model to answer in text.
 */
export function toolRoundTrip(question: string, call: LlmToolCallPart): LlmMessage[] {
  return [
    { role: 'system', content: 'You are terse.' },
    { role: 'user', content: question },
    { role: 'assistant', content: [call] },
    {
      role: 'tool',
      content: [
        {
          type: 'tool-result',
          toolCallId: call.toolCallId,
          toolName: call.toolName,
          output: { temperatureC: 21 },
        },
      ],
    },
  ];
}
