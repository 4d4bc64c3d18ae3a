import type { IncomingMessage } from 'node:http';
import { uuidv7 } from '../ids.ts';

// Accept a caller's id only if it is short and plain, so it is safe in logs and headers.
const ACCEPTABLE = /^[A-Za-z0-9._:-]{1,128}$/;

export const REQUEST_ID_HEADER = 'x-request-id';

export function requestIdFor(request: IncomingMessage): string {
  const given = request.headers[REQUEST_ID_HEADER];
  if (typeof given === 'string' && ACCEPTABLE.test(given)) return given;
  return uuidv7();
}
