/**
 * Who is making a request, as every service sees it. Routes get it from `request.actor`
 * (set by the auth plugin); jobs and the CLI build one for the user they act for.
 * Contract shared by all features — change it only with every caller.
 */
export type ApiKeyScope = 'read' | 'write' | 'admin';

export interface Actor {
  userId: string;
  /** Instance administrator: may see and manage every project. */
  isAdmin: boolean;
  /** How the request authenticated. */
  via: 'session' | 'api-key' | 'system';
  /** For API keys: the scopes granted. Sessions carry every scope their roles allow. */
  scopes: readonly ApiKeyScope[];
  /** Session id hash or API key id, for the audit log; never the secret. */
  credentialId: string | undefined;
}
