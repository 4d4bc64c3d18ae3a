import http from 'node:http';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../../test/eventually.ts';
import { rejectionOf } from '../../test/rejection.ts';
import { loadConfig } from '../platform/config.ts';
import { type GatewayTestEnv, startGatewayEnv } from './gateway-test-env.ts';

/**
 * Many calls from one host (docs/gateway.md): past the per-address connection bound the
 * gateway still serves a key's calls, up to the key's concurrency, and answers the rest 429
 * in the caller's wire format, never by dropping the connection. Client hang-ups are no
 * server error. Bounds here are small: 2 connections per address, 6 more for the gateway,
 * 3 calls in flight per key.
 */

let env: GatewayTestEnv;

beforeAll(async () => {
  const defaults = loadConfig({}, {});
  env = await startGatewayEnv('sk-test-gateway-limits-provider-0123456789', {
    http: { ...defaults.http, maxConnectionsPerIp: 2, overflowConnectionsPerIp: 6 },
    gateway: { concurrencyPerKey: 3 },
  });
});
afterAll(() => env?.close());

/** A GET on a connection of its own (no pool): it is the newest from this address. */
function getOnNewConnection(
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const request = http.get(`${env.origin}${path}`, { agent: false, headers }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        body += chunk;
      });
      response.on('end', () =>
        resolve({ status: response.statusCode ?? 0, headers: response.headers, body }),
      );
    });
    request.on('error', reject);
  });
}

const DISCONNECTED = 'gateway client disconnected; upstream call aborted';

/** Log lines of `level` that mention `text`. */
const logLines = (level: 'info' | 'error', text?: string) =>
  env.t.platform.logs.lines.filter(
    (line) => line.level === level && (text === undefined || JSON.stringify(line).includes(text)),
  );

describe('many calls from one host', () => {
  it('serves calls past the per-address bound and answers 429 past the key concurrency', async () => {
    const { fake, providers } = env;
    fake.reset();
    const { key } = await env.createKey({
      models: [
        { name: 'hang', provider: providers.openai, model: 'gpt-4o-mini@hang' },
        { name: 'fast', provider: providers.openai, model: 'gpt-4o-mini' },
      ],
    });
    const openai = new OpenAI({ baseURL: `${env.origin}/v1`, apiKey: key, maxRetries: 0 });
    const ask = (model: string, signal?: AbortSignal) =>
      openai.chat.completions.create(
        { model, messages: [{ role: 'user', content: 'Hello' }] },
        { signal },
      );

    // Three calls held open by the provider: the key's limit, on more connections than 2.
    const controllers = [0, 1, 2].map(() => new AbortController());
    const held = controllers.map((controller) =>
      ask('hang', controller.signal).catch((error: unknown) => error),
    );
    await fake.waitFor((_, all) => all.length === 3, 30_000);

    const refused = await rejectionOf(OpenAI.APIError, ask('fast'));
    expect(refused.status).toBe(429);
    expect(refused.error).toMatchObject({ type: 'rate_limit_error', code: 'rate_limited' });
    expect(refused.message).toContain('in flight');
    expect((refused.headers as Headers | undefined)?.get('retry-after')).toBe('1');
    const anthropic = new Anthropic({ baseURL: env.origin, apiKey: key, maxRetries: 0 });
    const refusedToo = await rejectionOf(
      Anthropic.APIError,
      anthropic.messages.create({
        model: 'fast',
        max_tokens: 16,
        messages: [{ role: 'user', content: 'Hello' }],
      }),
    );
    expect(refusedToo.status).toBe(429);
    expect(refusedToo.error).toMatchObject({ error: { type: 'rate_limit_error' } });
    expect(fake.requests).toHaveLength(3);

    // Any other route on a connection past the bound: 429 in the envelope, then closed.
    const other = await getOnNewConnection('/healthz');
    expect(other.status).toBe(429);
    expect(other.headers.connection).toBe('close');
    expect(JSON.parse(other.body).error.code).toBe('RATE_LIMITED');

    // The held calls' clients hang up: upstream is aborted, each logged at info, none as an
    // internal error; the key's slots are free again.
    for (const controller of controllers) controller.abort();
    await Promise.all(held);
    await fake.waitFor((_, all) => all.filter((request) => request.aborted).length === 3, 30_000);
    const gone = await eventually(
      () => logLines('info', DISCONNECTED),
      (lines) => lines.length === 3,
      { what: 'three disconnect log lines' },
    );
    for (const line of gone) expect(line.requestId).toEqual(expect.any(String));
    // Before: each hang-up was logged at error as INTERNAL ("Internal server error").
    expect(logLines('error')).toEqual([]);
    const answered = await eventually(
      () =>
        ask('fast').then(
          (completion) => completion.choices[0]?.message.content,
          () => undefined,
        ),
      (text) => typeof text === 'string',
      { what: 'a call once the held ones ended' },
    );
    expect(answered).toBeTruthy();
  });

  it('closes an overflow connection that carries no valid gateway key', async () => {
    // Fill the per-address bound with two held calls, then use a wrong key past it.
    const { fake, providers } = env;
    fake.reset();
    const { key } = await env.createKey({
      models: [{ name: 'hang', provider: providers.openai, model: 'gpt-4o-mini@hang' }],
    });
    const controllers = [0, 1].map(() => new AbortController());
    const held = controllers.map((controller) =>
      new OpenAI({ baseURL: `${env.origin}/v1`, apiKey: key, maxRetries: 0 }).chat.completions
        .create(
          { model: 'hang', messages: [{ role: 'user', content: 'Hello' }] },
          { signal: controller.signal },
        )
        .catch((error: unknown) => error),
    );
    await fake.waitFor((_, all) => all.length === 2, 30_000);
    const wrong = await getOnNewConnection('/v1/models', {
      authorization: `Bearer bcgw_${'x'.repeat(43)}`,
    });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.connection).toBe('close');
    for (const controller of controllers) controller.abort();
    await Promise.all(held);
  });
});
