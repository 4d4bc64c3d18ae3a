import { describe, expect, it } from 'vitest';
import { createUser } from '../../test/factories.ts';
import { testAppPerSuite } from '../../test/per-suite.ts';
import { ENCRYPTED_COLUMNS } from '../migrations/encrypted-columns.ts';
import { createSecretBox, deriveKey, secretContext } from './crypto.ts';
import { reencryptColumns } from './secret-rotation.ts';

describe('re-encrypting secrets at rest', () => {
  const t = testAppPerSuite();

  it('moves every value to the new key (BRAINCELLS_SECRET changed) and leaves others alone', async () => {
    const oldKey = deriveKey('the old operator secret, 32+ characters');
    const newKey = deriveKey('the new operator secret, 32+ characters');
    const oldBox = createSecretBox([oldKey]);
    const db = t.platform.database.db;
    const users = await Promise.all([createUser(t), createUser(t), createUser(t)]);
    for (const user of users.slice(0, 2)) {
      await db
        .updateTable('app_user')
        .set({
          mfa_pending_secret: oldBox.encrypt(
            `secret-${user.id}`,
            secretContext('app_user', 'mfa_pending_secret', user.id),
          ),
        })
        .where('id', '=', user.id)
        .execute();
    }
    const box = createSecretBox([newKey, oldKey]); // current first, previous after
    const report = await reencryptColumns(db, box, ENCRYPTED_COLUMNS, 1);
    expect(report).toEqual({ reencrypted: 2, remaining: 0 });
    const rows = await db.selectFrom('app_user').select(['id', 'mfa_pending_secret']).execute();
    const newOnly = createSecretBox([newKey]);
    for (const user of users.slice(0, 2)) {
      const value = rows.find((row) => row.id === user.id)!.mfa_pending_secret!;
      expect(newOnly.decrypt(value, secretContext('app_user', 'mfa_pending_secret', user.id))).toBe(
        `secret-${user.id}`,
      );
    }
    expect(rows.find((row) => row.id === users[2]!.id)!.mfa_pending_secret).toBeNull();
    // Idempotent.
    expect(await reencryptColumns(db, box, ENCRYPTED_COLUMNS)).toEqual({
      reencrypted: 0,
      remaining: 0,
    });
  });

  it('fails loudly, changing nothing, when a value was sealed by a key it does not have', async () => {
    const stranger = createSecretBox([deriveKey('a key nobody configured, 32+ chars')]);
    const user = await createUser(t);
    const sealed = stranger.encrypt('x', secretContext('app_user', 'mfa_pending_secret', user.id));
    const db = t.platform.database.db;
    await db
      .updateTable('app_user')
      .set({ mfa_pending_secret: sealed })
      .where('id', '=', user.id)
      .execute();
    const box = createSecretBox([deriveKey('the new operator secret, 32+ characters')]);
    await expect(reencryptColumns(db, box, ENCRYPTED_COLUMNS)).rejects.toThrow(/unknown key/);
    const row = await db
      .selectFrom('app_user')
      .select('mfa_pending_secret')
      .where('id', '=', user.id)
      .executeTakeFirstOrThrow();
    expect(row.mfa_pending_secret).toBe(sealed);
  });
});
