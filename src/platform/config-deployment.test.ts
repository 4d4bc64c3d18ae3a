import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from './config.ts';
import { configErrorOf } from './config-test-helpers.ts';

// A made-up password on loopback (the secret scan's allowlist); it must never be echoed.
const PG = 'postgres://braincells:secret-pw@127.0.0.1:5432/braincells';
const SECRET = 'x'.repeat(40);
const dir = mkdtempSync(path.join(os.tmpdir(), 'bc-config-deploy-'));
const caFile = path.join(dir, 'ca.pem');
writeFileSync(caFile, '-----BEGIN CERTIFICATE-----\n');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('deployment mode and roles', () => {
  it('is embedded with role all by default, jobs on', () => {
    const config = loadConfig({}, {});
    expect(config).toMatchObject({
      role: 'all',
      mode: 'embedded',
      jobsEnabled: true,
      redis: undefined,
    });
    expect(config.databaseAcquireTimeoutMs).toBe(5_000);
  });

  it('is postgres with DATABASE_URL, shared with DATABASE_URL and REDIS_URL', () => {
    expect(loadConfig({ DATABASE_URL: PG }, {}).mode).toBe('postgres');
    const shared = loadConfig(
      { DATABASE_URL: PG, REDIS_URL: 'redis://cache:6379', BRAINCELLS_SECRET: SECRET },
      {},
    );
    expect(shared.mode).toBe('shared');
    expect(shared.redis).toEqual({ url: 'redis://cache:6379', caFile: undefined });
    // Redis alone shares rate limits but the database is still one process's.
    expect(loadConfig({ REDIS_URL: 'redis://cache:6379' }, {}).mode).toBe('embedded');
  });

  it('runs no job workers on the api role, and jobs on the worker role', () => {
    expect(
      loadConfig({ DATABASE_URL: PG, BRAINCELLS_ROLE: 'api', BRAINCELLS_SECRET: SECRET }, {}),
    ).toMatchObject({
      role: 'api',
      jobsEnabled: false,
    });
    expect(loadConfig({ DATABASE_URL: PG, BRAINCELLS_ROLE: 'worker' }, {})).toMatchObject({
      role: 'worker',
      jobsEnabled: true,
    });
    // BRAINCELLS_JOBS=false keeps its meaning on role all.
    expect(loadConfig({ BRAINCELLS_JOBS: 'false' }, {}).jobsEnabled).toBe(false);
  });

  it('takes the pool settings', () => {
    const config = loadConfig(
      {
        DATABASE_URL: PG,
        BRAINCELLS_DATABASE_POOL_SIZE: '3',
        BRAINCELLS_DATABASE_ACQUIRE_TIMEOUT_MS: '250',
      },
      {},
    );
    expect(config.databasePoolSize).toBe(3);
    expect(config.databaseAcquireTimeoutMs).toBe(250);
  });

  it.each([
    [{ BRAINCELLS_ROLE: 'web' }, 'BRAINCELLS_ROLE', 'must be all, api or worker'],
    [{ BRAINCELLS_ROLE: 'api' }, 'BRAINCELLS_ROLE', 'api needs DATABASE_URL'],
    [{ BRAINCELLS_ROLE: 'worker' }, 'BRAINCELLS_ROLE', 'worker needs DATABASE_URL'],
    [
      // It forwards every dataset request, signed with a key derived from the secret.
      { BRAINCELLS_ROLE: 'api', DATABASE_URL: PG },
      'BRAINCELLS_SECRET',
      'must be set when BRAINCELLS_ROLE=api',
    ],
    [
      { BRAINCELLS_ROLE: 'worker', DATABASE_URL: PG, BRAINCELLS_JOBS: 'false' },
      'BRAINCELLS_JOBS',
      'cannot be false when BRAINCELLS_ROLE=worker',
    ],
    [
      { DATABASE_URL: PG, REDIS_URL: 'redis://cache:6379' },
      'BRAINCELLS_SECRET',
      'must be set when DATABASE_URL and REDIS_URL are',
    ],
    [{ BRAINCELLS_DATABASE_POOL_SIZE: '0' }, 'BRAINCELLS_DATABASE_POOL_SIZE', '>=1'],
    [
      { BRAINCELLS_DATABASE_ACQUIRE_TIMEOUT_MS: 'soon' },
      'BRAINCELLS_DATABASE_ACQUIRE_TIMEOUT_MS',
      'must be a whole number',
    ],
    [
      { REDIS_URL: 'redis://cache:6379', BRAINCELLS_REDIS_CA_FILE: caFile },
      'BRAINCELLS_REDIS_CA_FILE',
      'needs a rediss:// REDIS_URL',
    ],
    [
      { REDIS_URL: 'rediss://cache:6380', BRAINCELLS_REDIS_CA_FILE: path.join(dir, 'missing') },
      'BRAINCELLS_REDIS_CA_FILE',
      'cannot be read',
    ],
  ])('refuses %j naming %s', (env, variable, message) => {
    const error = configErrorOf(env as Record<string, string>);
    expect(error.variable).toBe(variable);
    expect(error.message).toContain(message);
  });
});

describe('DATABASE_URL TLS settings', () => {
  it.each([
    ['sslmode=no-verify', 'turns certificate verification off'],
    ['sslmode=prefer', 'may connect without TLS'],
    ['sslmode=allow', 'may connect without TLS'],
    ['sslmode=sometimes', 'is not known'],
    ['sslmode=require&uselibpqcompat=true', 'uselibpqcompat=true is refused'],
    [`sslmode=verify-full&sslrootcert=${dir}/missing.pem`, 'sslrootcert file'],
    [`sslmode=disable&sslrootcert=${caFile}`, 'sslmode=disable turns TLS off'],
  ])('refuses ?%s naming DATABASE_URL, without echoing the URL', (query, message) => {
    const error = configErrorOf({ DATABASE_URL: `${PG}?${query}` });
    expect(error.variable).toBe('DATABASE_URL');
    expect(error.message).toContain(message);
    expect(error.message).not.toContain('secret-pw');
  });

  it.each([
    ['', undefined],
    ['?sslmode=disable', 'disable'],
    ['?sslmode=require', 'verify-full'],
    [`?sslmode=verify-ca&sslrootcert=${encodeURIComponent(caFile)}`, 'verify-full'],
    [`?sslmode=verify-full&sslrootcert=${encodeURIComponent(caFile)}`, 'verify-full'],
    [`?sslrootcert=${encodeURIComponent(caFile)}`, 'verify-full'],
  ])(
    'connects with ?%s as sslmode %s (verification never weaker than verify-full)',
    (query, mode) => {
      const url = new URL(loadConfig({ DATABASE_URL: `${PG}${query}` }, {}).databaseUrl!);
      expect(url.searchParams.get('sslmode') ?? undefined).toBe(mode);
      expect(url.password).toBe('secret-pw');
      if (query.includes('sslrootcert')) expect(url.searchParams.get('sslrootcert')).toBe(caFile);
    },
  );
});
