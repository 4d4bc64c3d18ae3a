import { describe, expect, it } from 'vitest';
import { loadConfig } from './config.ts';

describe('security settings', () => {
  it('have safe defaults', () => {
    const config = loadConfig({}, {});
    expect(config.session).toEqual({
      idleTimeoutMs: 7 * 86_400_000,
      absoluteTimeoutMs: 30 * 86_400_000,
    });
    expect(config.secureCookies).toBe(false);
    expect(config.corsOrigins).toEqual([]);
    expect(config.secret).toEqual({ current: undefined, previous: [] });
    expect(config.rateLimit).toEqual({ perIp: 600, perUser: 1200, auth: 20, redisUrl: undefined });
    expect(config.login).toEqual({
      maxFailures: 5,
      ipMaxFailures: 50,
      lockoutMs: 900_000,
      delayMs: 250,
    });
    expect(config.smtp.url).toBeUndefined();
  });

  it('parse durations, origin lists and secrets', () => {
    const config = loadConfig(
      {
        BRAINCELLS_SESSION_IDLE_TIMEOUT: '30m',
        BRAINCELLS_SESSION_ABSOLUTE_TIMEOUT: '12h',
        BRAINCELLS_LOGIN_LOCKOUT: '90s',
        BRAINCELLS_CORS_ORIGINS: 'https://app.example.com, http://localhost:5173',
        BRAINCELLS_SECRET: 'x'.repeat(40),
        BRAINCELLS_SECRET_PREVIOUS: `${'y'.repeat(40)}, ${'z'.repeat(40)}`,
        BRAINCELLS_PUBLIC_URL: 'https://bc.example.com/',
        BRAINCELLS_SECURE_COOKIES: 'true',
        REDIS_URL: 'redis://cache:6379',
      },
      {},
    );
    expect(config.session).toEqual({ idleTimeoutMs: 1_800_000, absoluteTimeoutMs: 43_200_000 });
    expect(config.login.lockoutMs).toBe(90_000);
    expect(config.corsOrigins).toEqual(['https://app.example.com', 'http://localhost:5173']);
    expect(config.secret.previous).toEqual(['y'.repeat(40), 'z'.repeat(40)]);
    expect(config.publicUrl).toBe('https://bc.example.com');
    expect(config.secureCookies).toBe(true);
    expect(config.rateLimit.redisUrl).toBe('redis://cache:6379');
  });

  it('never echo a secret value in the error', () => {
    for (const [name, value] of [
      ['BRAINCELLS_SECRET', 'too-short-secret-value'],
      ['SMTP_URL', 'ftp://user:hunter2hunter2@mail'],
      ['REDIS_URL', 'http://:hunter2hunter2@cache'],
    ] as const) {
      let message = '';
      try {
        loadConfig({ [name]: value }, {});
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message).toContain(name);
      expect(message).not.toContain(value);
      expect(message).not.toContain('hunter2');
    }
  });
});
