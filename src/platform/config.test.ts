import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig, readEnvFile } from './config.ts';
import { configErrorOf } from './config-test-helpers.ts';

describe('loadConfig', () => {
  it('runs on defaults with no environment', () => {
    const config = loadConfig({}, {});
    expect(config.host).toBe('127.0.0.1');
    expect(config.port).toBe(3000);
    expect(config.dataDir).toBe(path.resolve('./data'));
    expect(config.databaseUrl).toBeUndefined();
    expect(config.migrateOnStart).toBe(true);
  });

  it.each([
    [{ PORT: 'abc' }, 'PORT', 'must be a whole number'],
    [{ PORT: '70000' }, 'PORT', '65535'],
    [{ BRAINCELLS_MIGRATE_ON_START: 'maybe' }, 'BRAINCELLS_MIGRATE_ON_START', 'Invalid'],
    [{ DATABASE_URL: 'mysql://x' }, 'DATABASE_URL', 'postgres://'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL', 'Invalid'],
    [{ BRAINCELLS_DUCKDB_MEMORY_LIMIT: 'lots' }, 'BRAINCELLS_DUCKDB_MEMORY_LIMIT', '2GB'],
    [{ BRAINCELLS_DATA_DIRR: '/tmp' }, 'BRAINCELLS_DATA_DIRR', 'unknown setting'],
    // Security settings (docs/security.md).
    [{ BRAINCELLS_SESSION_IDLE_TIMEOUT: '7 days' }, 'BRAINCELLS_SESSION_IDLE_TIMEOUT', '30m'],
    [{ BRAINCELLS_SESSION_IDLE_TIMEOUT: '5s' }, 'BRAINCELLS_SESSION_IDLE_TIMEOUT', 'too short'],
    [{ BRAINCELLS_CORS_ORIGINS: 'https://app.example.com/' }, 'BRAINCELLS_CORS_ORIGINS', 'no path'],
    [{ BRAINCELLS_CORS_ORIGINS: '*' }, 'BRAINCELLS_CORS_ORIGINS', 'origin'],
    [{ REDIS_URL: 'http://x' }, 'REDIS_URL', 'redis://'],
    [{ SMTP_URL: 'mail.example.com' }, 'SMTP_URL', 'smtp://'],
    [{ BRAINCELLS_RATE_LIMIT_PER_IP: '0' }, 'BRAINCELLS_RATE_LIMIT_PER_IP', ''],
  ])('refuses %j naming the variable', (env, variable, problem) => {
    const error = configErrorOf(env);
    expect(error.variable).toBe(variable);
    expect(error.message).toContain(variable);
    expect(error.message).toContain(problem);
    expect(error.message).not.toContain('\n');
  });

  it('parses booleans, integers and paths', () => {
    const config = loadConfig(
      { PORT: '8080', BRAINCELLS_MIGRATE_ON_START: 'false', BRAINCELLS_DATA_DIR: '/srv/bc' },
      {},
    );
    expect(config.port).toBe(8080);
    expect(config.migrateOnStart).toBe(false);
    expect(config.dataDir).toBe('/srv/bc');
  });

  it('reads .env, with the real environment winning', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'bc-env-'));
    const file = path.join(dir, '.env');
    writeFileSync(file, 'PORT=4000\nHOST=0.0.0.0\n# comment\nBRAINCELLS_JOBS=false\n');
    const config = loadConfig({ PORT: '5000' }, readEnvFile(file));
    expect(config.port).toBe(5000);
    expect(config.host).toBe('0.0.0.0');
    expect(config.jobsEnabled).toBe(false);
  });

  it('checks unknown names in .env too', () => {
    expect(() => loadConfig({}, { BRAINCELLS_TYPO: '1' })).toThrow(/BRAINCELLS_TYPO/);
  });
});
