import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testBackends } from '../../../test/test-platform.ts';
import { testDatabaseUrl } from '../../../test/test-postgres.ts';
import {
  makeTestCertificates,
  postgresTlsFront,
  type TestCertificates,
  type TlsFront,
} from '../../../test/tls-fronts.ts';
import { openDatabase } from './database.ts';
import { verifiedPostgresUrl } from './postgres-url.ts';

/**
 * PostgreSQL over TLS with a CA made for this file: a front that speaks PostgreSQL's TLS
 * handshake with our certificate and relays to the local server. The URL goes through
 * verifiedPostgresUrl as DATABASE_URL does, so `require` and `verify-ca` verify as well.
 */
for (const backend of testBackends().filter((name) => name === 'postgres')) {
  describe(`PostgreSQL over TLS (${backend})`, () => {
    let certificates: TestCertificates;
    let front: TlsFront;
    let wrongHostFront: TlsFront;

    beforeAll(async () => {
      const upstream = new URL(testDatabaseUrl()!);
      const target = { host: upstream.hostname, port: Number(upstream.port || 5432) };
      certificates = makeTestCertificates();
      front = await postgresTlsFront(certificates.server, target);
      wrongHostFront = await postgresTlsFront(certificates.wrongHost, target);
    });
    afterAll(async () => {
      await front?.close();
      await wrongHostFront?.close();
      certificates?.remove();
    });

    const urlFor = (port: number, query: string) => {
      const url = new URL(testDatabaseUrl()!);
      url.hostname = '127.0.0.1';
      url.port = String(port);
      return verifiedPostgresUrl(`${url.toString()}?${query}`);
    };
    const open = (url: string) =>
      openDatabase({ kind: 'postgres', connectionString: url, poolSize: 1 });

    it('connects with sslmode=verify-full and the CA that signed the server certificate', async () => {
      const database = await open(
        urlFor(front.port, `sslmode=verify-full&sslrootcert=${certificates.caFile}`),
      );
      try {
        await database.ping();
        expect(database.connectionString).toContain('sslmode=verify-full');
      } finally {
        await database.close();
      }
    });

    it('connects with sslmode=verify-ca and the right CA', async () => {
      const database = await open(
        urlFor(front.port, `sslmode=verify-ca&sslrootcert=${certificates.caFile}`),
      );
      await database.close();
    });

    it('refuses a server whose certificate another CA signed', async () => {
      await expect(
        open(urlFor(front.port, `sslmode=verify-full&sslrootcert=${certificates.otherCaFile}`)),
      ).rejects.toThrow(/self[- ]signed certificate|unable to verify|unable to get issuer/i);
    });

    it('refuses a certificate made out to another host name, with verify-ca too', async () => {
      for (const mode of ['verify-full', 'verify-ca']) {
        await expect(
          open(urlFor(wrongHostFront.port, `sslmode=${mode}&sslrootcert=${certificates.caFile}`)),
        ).rejects.toThrow(/does not match certificate's altnames/);
      }
    });

    it('verifies with sslmode=require too: a private CA not given is not trusted', async () => {
      await expect(open(urlFor(front.port, 'sslmode=require'))).rejects.toThrow(
        /self[- ]signed certificate|unable to verify|unable to get (local )?issuer/i,
      );
    });
  });
}
