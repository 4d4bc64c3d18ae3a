import { describe, expect, it } from 'vitest';
import { loadConfig } from './config.ts';
import { configErrorOf } from './config-test-helpers.ts';
import { createLogger } from './logger.ts';
import { openTelemetry } from './telemetry.ts';

const telemetryOf = (env: Record<string, string>) => loadConfig(env, {}).telemetry;

describe('OpenTelemetry settings (standard OTEL_* variables)', () => {
  it('is off with no endpoint, and names the service braincells', () => {
    expect(telemetryOf({})).toEqual({
      tracesUrl: undefined,
      headers: {},
      serviceName: 'braincells',
    });
  });

  it.each([
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }, 'http://collector:4318/v1/traces'],
    [
      { OTEL_EXPORTER_OTLP_ENDPOINT: 'https://otel.example.com/' },
      'https://otel.example.com/v1/traces',
    ],
    [
      { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://gateway:8080/otlp' },
      'http://gateway:8080/otlp/v1/traces',
    ],
    [
      {
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318',
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://traces:9999/custom',
      },
      'http://traces:9999/custom',
    ],
    [
      { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_SDK_DISABLED: 'true' },
      undefined,
    ],
  ])('%j sends traces to %s', (env, tracesUrl) => {
    expect(telemetryOf(env).tracesUrl).toBe(tracesUrl);
  });

  it('parses headers as name=value pairs with percent-encoded values', () => {
    expect(
      telemetryOf({
        OTEL_EXPORTER_OTLP_HEADERS:
          'api-key=abc%3D%3D, x-team = brain cells ,authorization=Basic%20eA',
        OTEL_SERVICE_NAME: 'braincells-eu',
      }),
    ).toMatchObject({
      headers: { 'api-key': 'abc==', 'x-team': 'brain cells', authorization: 'Basic eA' },
      serviceName: 'braincells-eu',
    });
  });

  it.each([
    [
      { OTEL_EXPORTER_OTLP_HEADERS: 'no-equals-sign-secret-value' },
      'OTEL_EXPORTER_OTLP_HEADERS',
      'name=value',
    ],
    [
      { OTEL_EXPORTER_OTLP_HEADERS: 'key=%E0%A4%A' },
      'OTEL_EXPORTER_OTLP_HEADERS',
      'percent-encoding',
    ],
    [
      { OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' },
      'OTEL_EXPORTER_OTLP_PROTOCOL',
      'grpc is not supported',
    ],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4317' }, 'OTEL_EXPORTER_OTLP_ENDPOINT', 'Invalid'],
  ])('refuses %j naming the variable', (env, variable, problem) => {
    const error = configErrorOf(env);
    expect(error.variable).toBe(variable);
    expect(error.message).toContain(problem);
    // Headers carry the collector's credentials: their value is never echoed.
    expect(error.message).not.toContain('secret-value');
  });

  it('opens nothing when no endpoint is configured', async () => {
    const logger = createLogger({ level: 'silent', format: 'json' });
    expect(await openTelemetry(telemetryOf({}), logger)).toBeUndefined();
  });
});
