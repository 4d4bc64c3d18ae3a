import { describe, expect, it } from 'vitest';
import { REDACTED, redactSummary } from './audit-redaction.ts';

describe('audit summary redaction', () => {
  it.each([
    'password',
    'newPassword',
    'current_password',
    'apiKey',
    'api-key',
    'token',
    'resetToken',
    'secret',
    'clientSecret',
    'authorization',
    'cookie',
    'sessionId',
    'recoveryCodes',
    'totpCode',
    'key',
    'code',
  ])('blanks %s', (key) => {
    expect(redactSummary({ [key]: 'hunter2-value', other: 'kept' })).toEqual({
      [key]: REDACTED,
      other: 'kept',
    });
  });

  it('walks nested objects and arrays, and bounds size', () => {
    const summary = redactSummary({
      changes: { name: 'x', provider: { apiKey: 'sk-1' } },
      list: Array.from({ length: 80 }, (_, i) => ({ i, token: `t${i}` })),
      long: 'a'.repeat(2000),
      deep: { a: { b: { c: { d: { e: 1 } } } } },
      when: new Date('2026-01-02T03:04:05Z'),
      skip: undefined,
    });
    expect(summary.changes).toEqual({ name: 'x', provider: { apiKey: REDACTED } });
    expect((summary.list as unknown[]).length).toBe(50);
    expect((summary.list as Record<string, unknown>[])[3]).toEqual({ i: 3, token: REDACTED });
    expect((summary.long as string).length).toBeLessThanOrEqual(501);
    expect(JSON.stringify(summary.deep)).toContain('[…]');
    expect(summary.when).toBe('2026-01-02T03:04:05.000Z');
    expect('skip' in summary).toBe(false);
    expect(JSON.stringify(summary)).not.toContain('sk-1');
  });
});
