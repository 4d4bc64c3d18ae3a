import { forbidden } from '../platform/app-error.ts';
import type { Actor, ApiKeyScope } from './actor.ts';

/** Scopes nest: admin includes write, write includes read. */
export const SCOPE_ORDER: readonly ApiKeyScope[] = ['read', 'write', 'admin'];

/** The scope and every scope below it, e.g. write → [read, write]. */
export function expandScopes(scopes: readonly ApiKeyScope[]): ApiKeyScope[] {
  const highest = Math.max(...scopes.map((scope) => SCOPE_ORDER.indexOf(scope)));
  return SCOPE_ORDER.slice(0, highest + 1);
}

export function hasScope(actor: Actor, scope: ApiKeyScope): boolean {
  return actor.scopes.includes(scope);
}

/** For use cases outside any project (create a project, list users). */
export function requireScope(actor: Actor, scope: ApiKeyScope): void {
  if (!hasScope(actor, scope)) throw forbidden(`This API key lacks the ${scope} scope`);
}

/** Instance administration (users, the instance-wide audit log). */
export function requireAdmin(actor: Actor): void {
  if (!actor.isAdmin) throw forbidden('Requires an instance administrator');
}

/** Managing one's own credentials (password, MFA, sessions, API keys) needs a signed-in session. */
export function requireSession(actor: Actor): void {
  if (actor.via !== 'session') throw forbidden('Requires a signed-in session, not an API key');
}
