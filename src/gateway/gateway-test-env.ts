import { sql } from 'kysely';
import { expect } from 'vitest';
import { createProjectWithMembers, type ProjectWithMembers } from '../../test/factories.ts';
import { registerTestSecret } from '../../test/leak-scan.ts';
import { createTestApp, type TestApp } from '../../test/test-platform.ts';
import { type FakeLlm, startFakeLlm } from '../../tools/fake-llm/fake-llm-server.ts';
import type { Config } from '../platform/config.ts';

/** The connection kinds the gateway tests route to (all pointed at tools/fake-llm). */
export type GatewayUpstreamKind = 'openai' | 'anthropic' | 'openai-compatible';

/**
 * What the gateway's HTTP tests share: a listening test app, tools/fake-llm behind an OpenAI,
 * an Anthropic and an OpenAI-compatible connection of one project, and helpers to make keys
 * and read usage rows.
 */
export interface GatewayTestEnv {
  t: TestApp;
  fake: FakeLlm;
  team: ProjectWithMembers;
  /** The server's origin, `http://127.0.0.1:<port>` (the OpenAI client wants `/v1` after it). */
  origin: string;
  providers: Record<GatewayUpstreamKind, string>;
  createProvider(owner: ProjectWithMembers, kind: GatewayUpstreamKind): Promise<string>;
  createKey(
    body: Record<string, unknown>,
    project?: ProjectWithMembers,
  ): Promise<{ id: string; key: string; models: { name: string }[] }>;
  /** The key's usage rows (feature `gateway`), after the recorder has flushed. */
  usageRows(keyId: string): Promise<Record<string, unknown>[]>;
  close(): Promise<void>;
}

export async function startGatewayEnv(
  providerKey: string,
  config: Partial<Config> = {},
): Promise<GatewayTestEnv> {
  registerTestSecret('provider-key', providerKey);
  const fake = await startFakeLlm({ apiKey: providerKey });
  const t = await createTestApp({ startJobs: false, config });
  await t.app.listen({ port: 0, host: '127.0.0.1' });
  const address = t.app.server.address();
  if (!address || typeof address === 'string') throw new Error('no address');
  const team = await createProjectWithMembers(t);

  const createProvider = async (owner: ProjectWithMembers, kind: GatewayUpstreamKind) => {
    const response = await t.app.inject({
      method: 'POST',
      url: `/api/projects/${owner.project.id}/llm/providers`,
      headers: owner.owner.headers,
      payload: {
        name: `fake ${kind}`,
        kind,
        baseUrl: `${fake.url}/v1`,
        apiKey: providerKey,
        // Priced as OpenAI's models (an OpenAI-compatible server has no catalog of its own).
        ...(kind === 'openai-compatible' ? { catalogProvider: 'openai' } : {}),
      },
    });
    expect(response.statusCode, response.body).toBe(201);
    return response.json().id as string;
  };
  const providers = {
    openai: await createProvider(team, 'openai'),
    anthropic: await createProvider(team, 'anthropic'),
    // Plain calls to it take the adapter's fast path (src/llm/llm-sdk-wire.ts).
    'openai-compatible': await createProvider(team, 'openai-compatible'),
  };

  return {
    t,
    fake,
    team,
    origin: `http://127.0.0.1:${address.port}`,
    providers,
    createProvider,
    async createKey(body, project = team) {
      const response = await t.app.inject({
        method: 'POST',
        url: `/api/projects/${project.project.id}/gateway/keys`,
        headers: project.owner.headers,
        payload: { name: 'notebook', ...body },
      });
      expect(response.statusCode, response.body).toBe(201);
      const created = response.json() as { id: string; key: string; models: { name: string }[] };
      registerTestSecret('api-key', created.key);
      return created;
    },
    async usageRows(keyId) {
      await t.app.llm.llm.flush();
      return t.platform.database.db
        .selectFrom('llm_calls')
        .selectAll()
        .where('feature', '=', 'gateway')
        .where(sql<boolean>`entity_ids ->> 'gatewayKeyId' = ${keyId}`)
        .orderBy('created_at')
        .orderBy('attempt')
        .execute();
    },
    async close() {
      await t?.close();
      await fake?.close();
    },
  };
}
