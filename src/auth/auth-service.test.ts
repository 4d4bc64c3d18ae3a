import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerTestSecret } from '../../test/leak-scan.ts';
import {
  createTestStorage,
  openTestPlatform,
  type TestPlatform,
  type TestStorage,
} from '../../test/test-platform.ts';
import { type CoreServices, createCoreFeatures } from '../features.ts';
import { uuidv7 } from '../platform/ids.ts';
import type { Mailer } from '../platform/mailer.ts';
import { hashPassword, verifyPassword } from './password-hash.ts';
import { insertUser } from './user-store.ts';

/** A mailer that records what it was asked to send. */
function recordingMailer(): Mailer & { sent: { to: string; subject: string; text: string }[] } {
  const sent: { to: string; subject: string; text: string }[] = [];
  return {
    sent,
    async send(message) {
      sent.push(message);
    },
  };
}

describe('password reset by mail', () => {
  let storage: TestStorage;
  let platform: TestPlatform;
  let services: CoreServices;
  const mailer = recordingMailer();

  beforeAll(async () => {
    storage = await createTestStorage();
    platform = await openTestPlatform(storage, { publicUrl: 'https://bc.example.com' });
    services = createCoreFeatures(platform, { mailer }).core;
  });
  afterAll(async () => {
    await platform?.close();
    await storage?.dispose();
  });

  async function user(email: string, disabled = false) {
    return insertUser(platform.database.db, {
      id: uuidv7(),
      email,
      display_name: '',
      password_hash: await hashPassword('the old password', { log2N: 10, r: 8, p: 1 }),
      is_admin: false,
      now: new Date(),
    }).then(async (row) => {
      if (disabled) {
        await platform.database.db
          .updateTable('app_user')
          .set({ disabled_at: new Date() })
          .where('id', '=', row.id)
          .execute();
      }
      return row;
    });
  }

  it('mails a one-hour link to an existing account only', async () => {
    await user('reader@example.test');
    await user('gone@example.test', true);
    await services.auth.requestPasswordReset('nobody@example.test');
    await services.auth.requestPasswordReset('gone@example.test');
    expect(mailer.sent).toEqual([]);

    await services.auth.requestPasswordReset('reader@example.test');
    expect(mailer.sent).toHaveLength(1);
    const message = mailer.sent[0]!;
    expect(message.to).toBe('reader@example.test');
    const link = /https:\/\/bc\.example\.com\/reset-password#token=([A-Za-z0-9_-]{43})/.exec(
      message.text,
    );
    expect(link).not.toBeNull();
    const token = link![1]!;
    registerTestSecret('reset-token', token);
    expect(platform.logs.text()).not.toContain(token);

    await services.auth.resetPassword({ token, newPassword: 'a brand new password' });
    const row = await platform.database.db
      .selectFrom('app_user')
      .select('password_hash')
      .where('email', '=', 'reader@example.test')
      .executeTakeFirstOrThrow();
    expect(await verifyPassword('a brand new password', row.password_hash)).toBe(true);
    await expect(
      services.auth.resetPassword({ token, newPassword: 'yet another password' }),
    ).rejects.toMatchObject({
      code: 'VALIDATION_ERROR',
    });
  });

  it('logs, without a token, when SMTP is not configured', async () => {
    const plain = createCoreFeatures(platform).core;
    await user('nomail@example.test');
    await plain.auth.requestPasswordReset('nomail@example.test');
    expect(platform.logs.text()).toContain('braincells user reset-link');
    const tokens = await platform.database.db
      .selectFrom('auth_token')
      .innerJoin('app_user', 'app_user.id', 'auth_token.user_id')
      .where('app_user.email', '=', 'nomail@example.test')
      .select('auth_token.id')
      .execute();
    expect(tokens).toEqual([]);
  });
});
