import { z } from 'zod';
import { visibleText } from '../platform/text-schema.ts';

/** Lower-cased, trimmed, RFC 5321 length. */
export const email = z
  .string()
  .trim()
  .toLowerCase()
  .pipe(z.email('must be an e-mail address').max(254));

/** NIST SP 800-63B §5.1.1: at least 12 here, long passphrases welcome, no composition rules. */
export const PASSWORD_MIN_LENGTH = 12;
export const password = z
  .string()
  .min(PASSWORD_MIN_LENGTH, `must be at least ${PASSWORD_MIN_LENGTH} characters`)
  .max(256, 'must be at most 256 characters');

/** A password typed to prove who you are: any length, so old short ones still get a clear "wrong". */
export const currentPassword = z.string().min(1).max(256);

export const displayName = visibleText(200);

const token = z.string().min(1).max(200);
const otpCode = z
  .string()
  .trim()
  .min(6)
  .max(40)
  .describe('A 6-digit code from the authenticator app, or a recovery code');

export const setupStatusSchema = z.object({
  needed: z.boolean().describe('True until the first account exists.'),
});

export const setupBody = z.strictObject({
  email,
  password,
  displayName: displayName.default(''),
  setupToken: token.optional().describe('Required unless the request comes from this machine.'),
});

export const loginBody = z.strictObject({ email, password: currentPassword });
export const mfaLoginBody = z.strictObject({ challengeToken: token, code: otpCode });

export const userSchema = z.object({
  id: z.uuid(),
  email: z.string(),
  displayName: z.string(),
  isAdmin: z.boolean(),
  mfaEnabled: z.boolean(),
  disabled: z.boolean(),
  createdAt: z.iso.datetime(),
});

export const signedInSchema = z.object({
  status: z.literal('signed-in'),
  user: userSchema,
  csrfToken: z
    .string()
    .describe('Send as the x-csrf-token header on every state-changing request.'),
  expiresAt: z.iso.datetime(),
});

export const loginResponseSchema = z.discriminatedUnion('status', [
  signedInSchema,
  z.object({
    status: z.literal('mfa-required'),
    challengeToken: z
      .string()
      .describe('Post it with a code to /api/auth/login/mfa within 5 minutes.'),
  }),
]);

export const meSchema = z.object({
  user: userSchema,
  via: z.enum(['session', 'api-key', 'system']),
  scopes: z.array(z.enum(['read', 'write', 'admin'])),
  csrfToken: z.string().nullable().describe('For session sign-ins; null for API keys.'),
});

export const updateMeBody = z.strictObject({ displayName });

export const changePasswordBody = z.strictObject({ currentPassword, newPassword: password });
export const changePasswordResponse = z.object({
  revokedSessions: z.number().int().describe('Your other sessions, now signed out.'),
});

export const resetRequestBody = z.strictObject({ email });
export const resetConfirmBody = z.strictObject({ token, newPassword: password });

export const sessionSchema = z.object({
  id: z.uuid(),
  createdAt: z.iso.datetime(),
  lastSeenAt: z.iso.datetime(),
  expiresAt: z.iso.datetime(),
  ip: z.string().nullable(),
  userAgent: z.string().nullable(),
  current: z.boolean(),
});
export const sessionListSchema = z.object({ items: z.array(sessionSchema) });
export const sessionParams = z.object({ sessionId: z.string().max(100) });

export const apiKeyScope = z.enum(['read', 'write', 'admin']);
export const createApiKeyBody = z.strictObject({
  name: z
    .string()
    .trim()
    .min(1)
    .max(200)
    .regex(/^[^\p{Cc}]*$/u, 'must not contain control characters'),
  scopes: z
    .array(apiKeyScope)
    .min(1)
    .max(3)
    .describe('Each scope includes those below it: admin ⊃ write ⊃ read.'),
  expiresAt: z.iso.datetime({ offset: true }).optional().describe('Never expires when omitted.'),
});
export type CreateApiKeyInput = z.infer<typeof createApiKeyBody>;

export const apiKeySchema = z.object({
  id: z.uuid(),
  name: z.string(),
  prefix: z.string().describe('The first characters of the key, to tell keys apart.'),
  scopes: z.array(apiKeyScope),
  expiresAt: z.iso.datetime().nullable(),
  lastUsedAt: z.iso.datetime().nullable(),
  createdAt: z.iso.datetime(),
});
export const apiKeyListSchema = z.object({ items: z.array(apiKeySchema) });
export const createdApiKeySchema = apiKeySchema.extend({
  key: z.string().describe('The key itself. Shown only in this response; store it now.'),
});
export const apiKeyParams = z.object({ keyId: z.string().max(100) });

export const mfaSetupSchema = z.object({
  secret: z.string().describe('Base32 secret, for typing into an authenticator app.'),
  otpauthUri: z.string().describe('The same secret as an otpauth:// URI (for a QR code).'),
});
export const mfaCodeBody = z.strictObject({ code: otpCode });
export const mfaDisableBody = z.strictObject({ password: currentPassword, code: otpCode });
export const recoveryCodesSchema = z.object({
  recoveryCodes: z
    .array(z.string())
    .describe('Each works once instead of an app code. Shown only in this response.'),
});

export const userListSchema = z.object({
  items: z.array(userSchema),
  nextAfter: z.uuid().nullable(),
});
export const userListQuery = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  after: z.uuid().optional(),
});
export const createUserBody = z.strictObject({
  email,
  password,
  displayName: displayName.default(''),
  isAdmin: z.boolean().default(false),
});
export type CreateUserInput = z.infer<typeof createUserBody>;
export const updateUserBody = z
  .strictObject({
    displayName: displayName.optional(),
    isAdmin: z.boolean().optional(),
    disabled: z
      .boolean()
      .optional()
      .describe('A disabled user cannot sign in; their sessions and keys stop working.'),
  })
  .refine((body) => Object.values(body).some((value) => value !== undefined), {
    message: 'at least one field is required',
  });
export type UpdateUserInput = z.infer<typeof updateUserBody>;
export const userParams = z.object({ userId: z.string().max(100) });
