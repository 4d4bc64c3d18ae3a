import { randomInt } from 'node:crypto';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../platform/config.ts';
import { type GatewayTestEnv, startGatewayEnv } from './gateway-test-env.ts';

/**
 * The per-address request limit on /v1 (docs/gateway.md, "Many calls from one host"): calls
 * with a key this server knows live are bounded by the key's own limits, not by the address,
 * so one app server calling with many keys is not throttled; made-up, wrong and revoked keys
 * still count against their address, so a flood of them cannot reach the key lookup unbounded.
 */

const PER_IP = 40;
let env: GatewayTestEnv;

beforeAll(async () => {
  const defaults = loadConfig({}, {});
  env = await startGatewayEnv('sk-test-gateway-rate-limit-provider-0123456789', {
    rateLimit: { ...defaults.rateLimit, perIp: PER_IP, perUser: 100_000, redisUrl: undefined },
  });
});
afterAll(() => env?.close());

/** A documentation-range address of its own, so tests never share a counter. */
const freshIp = () => `198.18.${randomInt(0, 255)}.${randomInt(1, 254)}`;

const models = (key: string, remoteAddress: string) =>
  env.t.app.inject({
    method: 'GET',
    url: '/v1/models',
    headers: { authorization: `Bearer ${key}` },
    remoteAddress,
  });

const statuses = (responses: LightMyRequestResponse[]) =>
  responses.map((response) => response.statusCode);

describe('per-address rate limit on /v1', () => {
  it('does not throttle one address calling with several live keys', async () => {
    const ip = freshIp();
    const keys = await Promise.all(
      [0, 1, 2].map(() =>
        env.createKey({
          models: [{ name: 'fast', provider: env.providers.openai, model: 'gpt-4o-mini' }],
        }),
      ),
    );
    // 3 keys × 20 calls from one address: more than its 40 a minute.
    const responses: LightMyRequestResponse[] = [];
    for (let round = 0; round < 20; round++)
      for (const { key } of keys) responses.push(await models(key, ip));
    expect(new Set(statuses(responses))).toEqual(new Set([200]));
    const call = await env.t.app.inject({
      method: 'POST',
      url: '/v1/chat/completions',
      headers: { authorization: `Bearer ${keys[0]?.key}` },
      payload: { model: 'fast', messages: [{ role: 'user', content: 'Hello' }] },
      remoteAddress: ip,
    });
    expect(call.statusCode, call.body).toBe(200);
  });

  it('limits an address that sends made-up keys (attack: key guessing)', async () => {
    const ip = freshIp();
    const responses: LightMyRequestResponse[] = [];
    for (let i = 0; i <= PER_IP; i++)
      responses.push(await models(`bcgw_${String(i).padStart(43, 'x')}`, ip));
    expect(statuses(responses.slice(0, PER_IP))).toEqual(Array(PER_IP).fill(401));
    const limited = responses[PER_IP] as LightMyRequestResponse;
    expect(limited.statusCode).toBe(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    // In the caller's wire format (OpenAI here), with our request id.
    expect(limited.json().error).toMatchObject({ type: 'rate_limit_error' });
    // Another address is not affected.
    expect((await models(`bcgw_${'y'.repeat(43)}`, freshIp())).statusCode).toBe(401);
  });

  it('counts a revoked key against its address again', async () => {
    const ip = freshIp();
    const created = await env.createKey({
      models: [{ name: 'fast', provider: env.providers.openai, model: 'gpt-4o-mini' }],
    });
    expect((await models(created.key, ip)).statusCode).toBe(200);
    const revoked = await env.t.app.inject({
      method: 'DELETE',
      url: `/api/projects/${env.team.project.id}/gateway/keys/${created.id}`,
      headers: env.team.owner.headers,
    });
    expect(revoked.statusCode).toBe(204);
    const responses: LightMyRequestResponse[] = [];
    for (let i = 0; i < PER_IP; i++) responses.push(await models(created.key, ip));
    // The one live call counted too (the key was not known yet): 39 more, then limited.
    expect(statuses(responses.slice(0, PER_IP - 1))).toEqual(Array(PER_IP - 1).fill(401));
    expect(responses[PER_IP - 1]?.statusCode).toBe(429);
  });
});
