import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../../test/eventually.ts';
import { createProjectWithMembers } from '../../test/factories.ts';
import { registerTestSecret } from '../../test/leak-scan.ts';
import { createTestApp, LogCapture } from '../../test/test-platform.ts';
import { startFakeLlm } from '../../tools/fake-llm/fake-llm-server.ts';
import { AppError } from '../platform/app-error.ts';
import { createLogger } from '../platform/logger.ts';
import { openTelemetry, type Telemetry } from '../platform/telemetry.ts';
import { ATTEMPT_EVENT, callSpanStart, usageAttributes } from './llm-telemetry.ts';
import { FAKE_API_KEY, type LlmTestEnv, openLlmTestEnv } from './llm-test-env.ts';

describe('span mapping (pure)', () => {
  it('names the span after the operation and the requested model, leaving unset parameters out', () => {
    const { name, attributes } = callSpanStart({
      callId: 'c1',
      projectId: 'p1',
      feature: 'chat',
      kind: 'openai-compatible',
      providerRef: 'env:openai-compatible',
      model: 'llama3.1:8b',
      parameters: { maxOutputTokens: 200, temperature: 0 },
      streaming: true,
    });
    expect(name).toBe('chat llama3.1:8b');
    expect(attributes).toMatchObject({
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'openai_compatible',
      'gen_ai.request.model': 'llama3.1:8b',
      'gen_ai.request.max_tokens': 200,
      'gen_ai.request.temperature': 0,
      'gen_ai.request.top_p': undefined,
      'gen_ai.request.stream': true,
    });
  });

  it.each([
    {
      name: 'input sums the disjoint buckets (the convention counts cached tokens as input)',
      usage: {
        uncachedInputTokens: 60,
        cacheReadTokens: 40,
        cacheWriteTokens: 5,
        outputTokens: 30,
        reasoningTokens: 10,
      },
      expected: {
        'gen_ai.usage.input_tokens': 105,
        'gen_ai.usage.output_tokens': 30,
        'gen_ai.usage.cache_read.input_tokens': 40,
        'gen_ai.usage.cache_creation.input_tokens': 5,
        'gen_ai.usage.reasoning.output_tokens': 10,
      },
    },
    {
      name: 'an unreported bucket adds nothing and is left out',
      usage: {
        uncachedInputTokens: 12,
        cacheReadTokens: undefined,
        cacheWriteTokens: undefined,
        outputTokens: 3,
        reasoningTokens: undefined,
      },
      expected: {
        'gen_ai.usage.input_tokens': 12,
        'gen_ai.usage.output_tokens': 3,
        'gen_ai.usage.cache_read.input_tokens': undefined,
        'gen_ai.usage.cache_creation.input_tokens': undefined,
        'gen_ai.usage.reasoning.output_tokens': undefined,
      },
    },
    {
      name: 'unknown usage stays unknown, never 0',
      usage: {
        uncachedInputTokens: undefined,
        cacheReadTokens: undefined,
        cacheWriteTokens: undefined,
        outputTokens: undefined,
        reasoningTokens: undefined,
      },
      expected: {
        'gen_ai.usage.input_tokens': undefined,
        'gen_ai.usage.output_tokens': undefined,
      },
    },
  ])('$name', ({ usage, expected }) => {
    expect(usageAttributes(usage)).toMatchObject(expected);
  });
});

// — OTLP/HTTP export to a collector on loopback —

interface Received {
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

async function startCollector() {
  const received: Received[] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      received.push({
        url: request.url ?? '',
        headers: request.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      });
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

type OtlpValue = {
  stringValue?: string;
  intValue?: number | string;
  doubleValue?: number;
  boolValue?: boolean;
  arrayValue?: { values?: OtlpValue[] };
};
type OtlpAttributes = { key: string; value: OtlpValue }[] | undefined;
interface OtlpSpan {
  name: string;
  kind: number;
  attributes?: OtlpAttributes;
  events?: { name: string; attributes?: OtlpAttributes }[];
  status?: { code?: number; message?: string };
}
interface OtlpBody {
  resourceSpans: {
    resource: { attributes?: OtlpAttributes };
    scopeSpans: { spans: OtlpSpan[] }[];
  }[];
}

function plain(value: OtlpValue): unknown {
  if (value.stringValue !== undefined) return value.stringValue;
  if (value.intValue !== undefined) return Number(value.intValue);
  if (value.doubleValue !== undefined) return value.doubleValue;
  if (value.boolValue !== undefined) return value.boolValue;
  if (value.arrayValue !== undefined) return (value.arrayValue.values ?? []).map(plain);
  return undefined;
}

const attributesOf = (list: OtlpAttributes): Record<string, unknown> =>
  Object.fromEntries((list ?? []).map(({ key, value }) => [key, plain(value)]));

/** Every exported span, with its attributes and events as plain objects. */
function exportedSpans(received: readonly Received[]) {
  return received.flatMap(({ body }) =>
    (JSON.parse(body) as OtlpBody).resourceSpans.flatMap((resourceSpan) =>
      resourceSpan.scopeSpans.flatMap((scope) =>
        scope.spans.map((span) => ({
          name: span.name,
          kind: span.kind,
          status: span.status ?? {},
          attributes: attributesOf(span.attributes),
          events: (span.events ?? []).map((event) => ({
            name: event.name,
            attributes: attributesOf(event.attributes),
          })),
          resource: attributesOf(resourceSpan.resource.attributes),
        })),
      ),
    ),
  );
}

// OTLP's enum values (opentelemetry-proto trace.proto): SPAN_KIND_CLIENT, STATUS_CODE_ERROR.
const SPAN_KIND_CLIENT = 3;
const STATUS_CODE_ERROR = 2;
const COLLECTOR_TOKEN = 'collector-token-5b1e0c9a7d3f';
registerTestSecret('api-key', COLLECTOR_TOKEN);

describe('OpenTelemetry export of LLM calls', () => {
  let collector: Awaited<ReturnType<typeof startCollector>>;
  let telemetry: Telemetry;
  let env: LlmTestEnv;
  const logs = new LogCapture();

  beforeAll(async () => {
    collector = await startCollector();
    const opened = await openTelemetry(
      {
        tracesUrl: `${collector.url}/v1/traces`,
        headers: { authorization: `Bearer ${COLLECTOR_TOKEN}` },
        serviceName: 'braincells',
      },
      createLogger({ level: 'debug', format: 'json', destination: logs }),
    );
    if (!opened) throw new Error('telemetry did not open');
    telemetry = opened;
    env = await openLlmTestEnv({ telemetry });
  });
  afterAll(async () => {
    await env?.close();
    await telemetry?.shutdown();
    await collector?.close();
  });

  /** The span of a call, once the service has recorded its attempts and the exporter sent it. */
  async function spanOf(callId: string) {
    const span = await eventually(
      async () => {
        await env.module.llm.flush();
        await telemetry.flush();
        return exportedSpans(collector.received).find(
          (candidate) => candidate.attributes['braincells.call_id'] === callId,
        );
      },
      Boolean,
      { what: `a span exported for call ${callId}` },
    );
    return span!;
  }

  it('exports one CLIENT span per call with the GenAI attributes, and neither the prompt, the answer nor a key', async () => {
    const secret = `Turn lead into gold, plan ${randomUUID()}`;
    const system = `SYSTEM-INSTRUCTIONS-${randomUUID()}`;
    const result = await env.module.llm.generate({
      actor: env.owner,
      projectId: env.projectId,
      feature: 'sheet-cell',
      provider: env.providers.openai,
      model: 'gpt-4o-mini',
      messages: [
        { role: 'system', content: system },
        { role: 'user', content: secret },
      ],
      parameters: { maxOutputTokens: 50, temperature: 0.25, topP: 0.5 },
      cache: 'off',
    });
    const span = await spanOf(result.callId);

    expect(span.name).toBe('chat gpt-4o-mini');
    expect(span.kind).toBe(SPAN_KIND_CLIENT);
    expect(span.resource['service.name']).toBe('braincells');
    expect(span.status.code ?? 0).not.toBe(STATUS_CODE_ERROR);
    expect(span.attributes).toMatchObject({
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'openai',
      'gen_ai.system': 'openai',
      'gen_ai.request.model': 'gpt-4o-mini',
      'gen_ai.response.model': 'gpt-4o-mini',
      'gen_ai.request.max_tokens': 50,
      'gen_ai.request.temperature': 0.25,
      'gen_ai.request.top_p': 0.5,
      'gen_ai.usage.input_tokens': result.usage.uncachedInputTokens,
      'gen_ai.usage.output_tokens': result.usage.outputTokens,
      'gen_ai.response.finish_reasons': ['stop'],
      'braincells.feature': 'sheet-cell',
      'braincells.project_id': env.projectId,
      'braincells.provider_ref': env.providers.openai,
      'braincells.cost_nano_usd': result.costNano,
      'braincells.cache_hit': false,
      'braincells.attempts': 1,
    });
    expect(result.costNano).toBeGreaterThan(0);
    expect(span.attributes['gen_ai.usage.input_tokens']).toBeGreaterThan(0);
    // The fake OpenAI Responses endpoint names its completions resp_…
    expect(span.attributes['gen_ai.response.id']).toMatch(/^resp_/);
    expect(span.attributes).not.toHaveProperty('error.type');
    expect(span.events).toEqual([
      {
        name: ATTEMPT_EVENT,
        attributes: expect.objectContaining({
          'braincells.attempt': 1,
          'braincells.attempt.status': 'ok',
          'gen_ai.request.model': 'gpt-4o-mini',
        }),
      },
    ]);

    const exported = collector.received.map((request) => request.body).join('\n');
    expect(exported).not.toContain(secret);
    expect(exported).not.toContain(system);
    expect(exported).not.toContain(result.text);
    expect(exported).not.toContain(FAKE_API_KEY);
    expect(collector.received[0]?.url).toBe('/v1/traces');
    expect(collector.received[0]?.headers['content-type']).toBe('application/json');
    expect(collector.received[0]?.headers.authorization).toBe(`Bearer ${COLLECTOR_TOKEN}`);
    expect(logs.text()).not.toContain(COLLECTOR_TOKEN);
  });

  it('adds an event per attempt: a retried 500 shows both, the span counts 2 attempts', async () => {
    const result = await env.module.llm.generate({
      actor: env.owner,
      projectId: env.projectId,
      feature: 'chat',
      provider: env.providers.anthropic,
      model: 'claude-3-5-haiku-latest@fail-times=1,status=500',
      messages: [{ role: 'user', content: `Retry me ${randomUUID()}` }],
      cache: 'off',
    });
    const span = await spanOf(result.callId);
    expect(span.attributes).toMatchObject({
      'gen_ai.provider.name': 'anthropic',
      'braincells.feature': 'chat',
      'braincells.attempts': 2,
    });
    expect(span.events.map((event) => event.attributes)).toEqual([
      expect.objectContaining({
        'braincells.attempt': 1,
        'braincells.attempt.status': 'error',
        'braincells.attempt.error_type': 'server-error',
        'http.response.status_code': 500,
      }),
      expect.objectContaining({ 'braincells.attempt': 2, 'braincells.attempt.status': 'ok' }),
    ]);
  });

  it('marks a failed call with error.type and an ERROR status', async () => {
    let callId: string | undefined;
    try {
      await env.module.llm.generate({
        actor: env.owner,
        projectId: env.projectId,
        feature: 'summary',
        provider: env.providers.openai,
        model: 'gpt-4o-mini@status=404',
        messages: [{ role: 'user', content: `Unknown model ${randomUUID()}` }],
        cache: 'off',
      });
    } catch (error) {
      if (!(error instanceof AppError)) throw error;
      callId = error.details?.callId as string;
    }
    if (!callId) throw new Error('expected the call to fail');
    const span = await spanOf(callId);
    expect(span.status.code).toBe(STATUS_CODE_ERROR);
    expect(span.attributes).toMatchObject({
      'error.type': 'model-not-found',
      'braincells.error_code': 'PROVIDER_ERROR',
      'braincells.attempts': 1,
      'braincells.cost_nano_usd': 0,
    });
  });

  it('traces a cache hit as a call of 0 attempts that cost nothing', async () => {
    const request = {
      actor: env.owner,
      projectId: env.projectId,
      feature: 'sheet-cell',
      provider: env.providers.openai,
      model: 'gpt-4o-mini',
      messages: [{ role: 'user' as const, content: `Cache me ${randomUUID()}` }],
    };
    await env.module.llm.generate(request);
    await env.module.llm.flush();
    const hit = await env.module.llm.generate(request);
    expect(hit.cacheHit).toBe(true);
    const span = await spanOf(hit.callId);
    expect(span.attributes).toMatchObject({
      'braincells.cache_hit': true,
      'braincells.attempts': 0,
      'braincells.cost_nano_usd': 0,
      'gen_ai.usage.input_tokens': 0,
    });
    expect(span.events).toEqual([]);
  });

  it('traces a connection test as feature test-connection', async () => {
    const before = new Set(exportedSpans(collector.received).map((span) => span));
    const tested = await env.module.admin.testProvider(
      env.owner,
      env.projectId,
      env.providers.anthropic,
      { model: 'claude-3-5-haiku-latest' },
    );
    expect(tested.ok).toBe(true);
    const span = await eventually(
      async () => {
        await env.module.llm.flush();
        await telemetry.flush();
        return exportedSpans(collector.received).find(
          (candidate) =>
            !before.has(candidate) &&
            candidate.attributes['braincells.feature'] === 'test-connection',
        );
      },
      Boolean,
      { what: 'the test-connection span' },
    );
    expect(span?.name).toBe('chat claude-3-5-haiku-latest');
    expect(span?.attributes).toMatchObject({
      'gen_ai.provider.name': 'anthropic',
      'gen_ai.request.max_tokens': 1,
      'braincells.project_id': env.projectId,
      'braincells.attempts': 1,
    });
  });
});

describe('the server with OTEL_EXPORTER_OTLP_ENDPOINT set', () => {
  it('exports its LLM calls, and its shutdown sends the spans still queued', async () => {
    const collector = await startCollector();
    const fake = await startFakeLlm({ apiKey: FAKE_API_KEY });
    const t = await createTestApp({
      startJobs: false,
      config: {
        telemetry: {
          tracesUrl: `${collector.url}/v1/traces`,
          headers: {},
          serviceName: 'braincells-test',
        },
      },
    });
    try {
      expect(t.platform.telemetry).toBeDefined();
      const team = await createProjectWithMembers(t);
      const provider = await t.app.llm.admin.createProvider(team.owner.actor, team.project.id, {
        name: 'fake',
        kind: 'openai',
        baseUrl: `${fake.url}/v1`,
        apiKey: FAKE_API_KEY,
      });
      const result = await t.app.llm.llm.generate({
        actor: team.editor.actor,
        projectId: team.project.id,
        feature: 'chat',
        provider: provider.id,
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: `Through the app ${randomUUID()}` }],
      });
      // The batch processor waits 5 s before sending; closing the server must not lose it.
      expect(collector.received).toHaveLength(0);
      await t.close();
      const span = exportedSpans(collector.received).find(
        (candidate) => candidate.attributes['braincells.call_id'] === result.callId,
      );
      expect(span).toMatchObject({
        name: 'chat gpt-4o-mini',
        resource: expect.objectContaining({ 'service.name': 'braincells-test' }),
        attributes: expect.objectContaining({
          'braincells.feature': 'chat',
          'braincells.project_id': team.project.id,
        }),
      });
    } finally {
      await t.close().catch(() => {});
      await fake.close();
      await collector.close();
    }
  });
});

describe('without OTEL_EXPORTER_OTLP_ENDPOINT', () => {
  it('loads no OpenTelemetry SDK code and opens no exporter', async () => {
    // A fresh process: the app's whole import graph, config from an environment without
    // OTEL_* (and with OTEL_SDK_DISABLED overriding an endpoint), then openTelemetry.
    const root = path.resolve(import.meta.dirname, '../..');
    const script = `
      import { registerHooks } from 'node:module';
      const seen = [];
      registerHooks({ resolve(specifier, context, next) { seen.push(specifier); return next(specifier, context); } });
      await import('./src/app.ts');
      const { loadConfig } = await import('./src/platform/config.ts');
      const { openTelemetry } = await import('./src/platform/telemetry.ts');
      const { createLogger } = await import('./src/platform/logger.ts');
      const logger = createLogger({ level: 'silent', format: 'json' });
      const off = await openTelemetry(loadConfig({}, {}).telemetry, logger);
      const disabled = await openTelemetry(
        loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9', OTEL_SDK_DISABLED: 'true' }, {}).telemetry,
        logger,
      );
      const sdk = seen.filter((s) => /@opentelemetry\\/(sdk-|exporter-|resources|semantic-conventions|otlp-)/.test(s));
      process.stdout.write(JSON.stringify({ off: off === undefined, disabled: disabled === undefined, sdk, resolved: seen.length }));
    `;
    const env = Object.fromEntries(
      Object.entries(process.env).filter(([name]) => !name.startsWith('OTEL_')),
    );
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--input-type=module', '--no-warnings', '-e', script],
      { cwd: root, env, timeout: 60_000 },
    );
    const outcome = JSON.parse(stdout) as {
      off: boolean;
      disabled: boolean;
      sdk: string[];
      resolved: number;
    };
    expect(outcome).toMatchObject({ off: true, disabled: true, sdk: [] });
    // The hook did see the app's imports (so an empty list means something).
    expect(outcome.resolved).toBeGreaterThan(100);
  }, 90_000);
});
