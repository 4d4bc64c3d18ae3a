import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { reachable, TEST_REDIS_URL } from '../../test/test-redis.ts';
import {
  makeTestCertificates,
  redisTlsFront,
  type TestCertificates,
  type TlsFront,
} from '../../test/tls-fronts.ts';
import { createRedisClient, firstConnection, pingRedis } from './redis.ts';

/** The first error a client reports (a refused handshake), or none once it is ready. */
function firstError(redis: Redis): Promise<Error | undefined> {
  return new Promise((resolve) => {
    redis.once('error', resolve);
    redis.once('ready', () => resolve(undefined));
  });
}

/** rediss:// against a TLS front (certificates made for this file) relaying to the local Redis. */
describe.skipIf(!(await reachable(TEST_REDIS_URL)))('Redis over TLS (rediss://)', () => {
  let certificates: TestCertificates;
  let front: TlsFront;
  let wrongHostFront: TlsFront;
  const clients: Redis[] = [];

  beforeAll(async () => {
    const upstream = new URL(TEST_REDIS_URL);
    const target = { host: upstream.hostname, port: Number(upstream.port || 6379) };
    certificates = makeTestCertificates();
    front = await redisTlsFront(certificates.server, target);
    wrongHostFront = await redisTlsFront(certificates.wrongHost, target);
  });
  afterEach(() => {
    for (const client of clients.splice(0)) client.disconnect();
  });
  afterAll(async () => {
    await front?.close();
    await wrongHostFront?.close();
    certificates?.remove();
  });

  const client = (port: number, caFile: string | undefined) => {
    const redis = createRedisClient(
      { url: `rediss://127.0.0.1:${port}`, caFile },
      { name: 'test' },
    );
    clients.push(redis);
    return redis;
  };

  it('connects and answers PING with the CA that signed the server certificate', async () => {
    const redis = client(front.port, certificates.caFile);
    await firstConnection(redis, 30_000);
    await pingRedis(redis);
  });

  it('refuses a server whose certificate another CA signed', async () => {
    const error = await firstError(client(front.port, certificates.otherCaFile));
    expect(error?.message).toMatch(/self[- ]signed certificate|unable to verify|unable to get/i);
  });

  it('refuses a self-signed CA that was not given (system CAs only)', async () => {
    const error = await firstError(client(front.port, undefined));
    expect(error?.message).toMatch(/self[- ]signed certificate|unable to verify|unable to get/i);
  });

  it('refuses a certificate made out to another host name', async () => {
    const redis = client(wrongHostFront.port, certificates.caFile);
    const error = await firstError(redis);
    expect(error?.message).toMatch(/does not match certificate's altnames/);
    await expect(pingRedis(redis)).rejects.toThrow();
  });
});
