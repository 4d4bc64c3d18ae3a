import { validationError } from '../app-error.ts';
import type { AppInstance } from './app-instance.ts';

/**
 * The deepest nesting of arrays and objects a JSON request body may have. No API input needs
 * more than a few levels; a body nested 100,000 deep parses, then overflows the stack of
 * whatever walks it (JSON.stringify, a schema, DuckDB) and used to answer 500.
 */
export const MAX_JSON_BODY_DEPTH = 64;

/**
 * Whether the JSON text nests arrays/objects deeper than `max`, read without parsing (a
 * flat scan: brackets inside strings do not count). Invalid JSON is left to the parser.
 */
export function jsonTextTooDeep(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index);
    if (inString) {
      if (code === 0x5c) index++;
      else if (code === 0x22) inString = false;
    } else if (code === 0x22) inString = true;
    else if (code === 0x5b || code === 0x7b) {
      if (++depth > max) return true;
    } else if (code === 0x5d || code === 0x7d) depth--;
  }
  return false;
}

/**
 * How deep a parsed JSON value nests (a scalar is 0, `[]` and `{}` are 1), walked without
 * recursion; stops counting once past `max` and returns max + 1.
 */
export function jsonValueDepth(value: unknown, max: number): number {
  let deepest = 0;
  const pending: [unknown, number][] = [[value, 0]];
  while (pending.length > 0) {
    const [current, depth] = pending.pop()!;
    if (current === null || typeof current !== 'object') continue;
    const level = depth + 1;
    if (level > max) return max + 1;
    if (level > deepest) deepest = level;
    for (const child of Object.values(current)) pending.push([child, level]);
  }
  return deepest;
}

/**
 * Fastify's own JSON parser (prototype-poisoning checks and all) behind a nesting bound:
 * a body deeper than MAX_JSON_BODY_DEPTH answers 400 before it is parsed.
 */
export function installJsonBodyParser(app: AppInstance): void {
  const parse = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (jsonTextTooDeep(text, MAX_JSON_BODY_DEPTH)) {
      done(
        validationError(`Request body nests deeper than ${MAX_JSON_BODY_DEPTH} levels`, [
          { path: 'body', message: `nested deeper than ${MAX_JSON_BODY_DEPTH} levels` },
        ]),
        undefined,
      );
      return;
    }
    parse(request, text, done);
  });
}
