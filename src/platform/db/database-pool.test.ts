import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { createSignedInUser } from '../../../test/factories.ts';
import { testAppPerSuite } from '../../../test/per-suite.ts';
import { testBackends } from '../../../test/test-platform.ts';

/**
 * A pool that runs dry fails fast (issue #20 item 1): with every connection held, a request
 * gets 503 SERVICE_UNAVAILABLE once the acquire timeout passes, instead of waiting without end;
 * when a connection comes back the same request succeeds.
 */
for (const backend of testBackends().filter((name) => name === 'postgres')) {
  describe(`a PostgreSQL pool of one connection on ${backend}`, () => {
    const t = testAppPerSuite({
      backend,
      config: { databasePoolSize: 1, databaseAcquireTimeoutMs: 1_000 },
    });

    it('answers 503 SERVICE_UNAVAILABLE while the connection is held, and serves again after', async () => {
      const session = await createSignedInUser(t);
      const list = () =>
        t.app.inject({ method: 'GET', url: '/api/projects', headers: session.headers });
      expect((await list()).statusCode).toBe(200);

      const { promise: released, resolve: release } = Promise.withResolvers<void>();
      const { promise: holding, resolve: held } = Promise.withResolvers<void>();
      const holder = t.platform.database.db.connection().execute(async (connection) => {
        await sql`select 1`.execute(connection);
        held();
        await released;
      });
      await holding;
      try {
        const refused = await list();
        expect(refused.statusCode).toBe(503);
        expect(refused.json().error).toMatchObject({
          code: 'SERVICE_UNAVAILABLE',
          retryable: true,
          message: expect.stringContaining('no free connection'),
          requestId: refused.headers['x-request-id'],
        });
      } finally {
        release();
        await holder;
      }
      expect((await list()).statusCode).toBe(200);
    });
  });
}
