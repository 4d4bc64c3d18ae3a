import { api, setCsrfToken } from './api-client.ts';

export interface User {
  id: string;
  email: string;
  displayName: string;
  isAdmin: boolean;
  mfaEnabled: boolean;
  disabled: boolean;
  createdAt: string;
}

export interface Me {
  user: User;
  via: 'session' | 'api-key' | 'system';
  scopes: ('read' | 'write' | 'admin')[];
  csrfToken: string | null;
}

export interface SignedIn {
  status: 'signed-in';
  user: User;
  csrfToken: string;
  expiresAt: string;
}

export type LoginResult = SignedIn | { status: 'mfa-required'; challengeToken: string };

export interface SessionInfo {
  id: string;
  createdAt: string;
  lastSeenAt: string;
  expiresAt: string;
  ip: string | null;
  userAgent: string | null;
  current: boolean;
}

export type ApiKeyScope = 'read' | 'write' | 'admin';

export interface ApiKeyInfo {
  id: string;
  name: string;
  prefix: string;
  scopes: ApiKeyScope[];
  expiresAt: string | null;
  lastUsedAt: string | null;
  createdAt: string;
}

const remember = <T extends { csrfToken: string | null }>(result: T): T => {
  setCsrfToken(result.csrfToken);
  return result;
};

export const authApi = {
  setupNeeded: () => api<{ needed: boolean }>('/api/auth/setup'),
  setup: (input: { email: string; password: string; displayName: string; setupToken?: string }) =>
    api<SignedIn>('/api/auth/setup', { method: 'POST', body: input }).then(remember),
  login: async (input: { email: string; password: string }) => {
    const result = await api<LoginResult>('/api/auth/login', { method: 'POST', body: input });
    if (result.status === 'signed-in') setCsrfToken(result.csrfToken);
    return result;
  },
  loginMfa: (input: { challengeToken: string; code: string }) =>
    api<SignedIn>('/api/auth/login/mfa', { method: 'POST', body: input }).then(remember),
  logout: async () => {
    await api<void>('/api/auth/logout', { method: 'POST' });
    setCsrfToken(null);
  },
  me: () => api<Me>('/api/auth/me').then(remember),
  changePassword: (input: { currentPassword: string; newPassword: string }) =>
    api<{ revokedSessions: number }>('/api/auth/password', { method: 'POST', body: input }),
  mfaSetup: () =>
    api<{ secret: string; otpauthUri: string }>('/api/auth/mfa/setup', { method: 'POST' }),
  mfaEnable: (code: string) =>
    api<{ recoveryCodes: string[] }>('/api/auth/mfa/enable', { method: 'POST', body: { code } }),
  mfaDisable: (input: { password: string; code: string }) =>
    api<void>('/api/auth/mfa/disable', { method: 'POST', body: input }),
  mfaRecoveryCodes: (code: string) =>
    api<{ recoveryCodes: string[] }>('/api/auth/mfa/recovery-codes', {
      method: 'POST',
      body: { code },
    }),
  sessions: () => api<{ items: SessionInfo[] }>('/api/auth/sessions'),
  revokeSession: (sessionId: string) =>
    api<void>(`/api/auth/sessions/${encodeURIComponent(sessionId)}`, { method: 'DELETE' }),
  apiKeys: () => api<{ items: ApiKeyInfo[] }>('/api/auth/api-keys'),
  createApiKey: (input: { name: string; scopes: ApiKeyScope[]; expiresAt?: string }) =>
    api<ApiKeyInfo & { key: string }>('/api/auth/api-keys', { method: 'POST', body: input }),
  revokeApiKey: (keyId: string) =>
    api<void>(`/api/auth/api-keys/${encodeURIComponent(keyId)}`, { method: 'DELETE' }),
};
