import type { Attributes, Span } from '@opentelemetry/api';
import type { TelemetryConfig } from './config.ts';
import type { Logger } from './logger.ts';

/** Attribute values a span carries; `undefined` entries are left out. */
export type TelemetryAttributes = Record<string, string | number | boolean | string[] | undefined>;

/** A span as features use it: a thin face over an OpenTelemetry span. Times are epoch ms. */
export interface TelemetrySpan {
  setAttributes(attributes: TelemetryAttributes): void;
  addEvent(name: string, attributes: TelemetryAttributes, at?: number): void;
  /** Marks the span failed: `error.type` and status ERROR with a message safe to export. */
  setError(errorType: string, message: string): void;
  end(at?: number): void;
}

/**
 * Trace export (OpenTelemetry, OTLP/HTTP JSON). Opened only when an endpoint is configured;
 * otherwise features hold `undefined` and pay one null check per call.
 */
export interface Telemetry {
  startSpan(
    name: string,
    options: { kind: 'client' | 'internal'; attributes: TelemetryAttributes; at?: number },
  ): TelemetrySpan;
  /** Sends every ended span now. */
  flush(): Promise<void>;
  /** Flushes, then stops the exporter. */
  shutdown(): Promise<void>;
}

function defined(attributes: TelemetryAttributes): Attributes {
  const out: Attributes = {};
  for (const key in attributes) {
    const value = attributes[key];
    if (value !== undefined) out[key] = value;
  }
  return out;
}

/**
 * Loads the OpenTelemetry SDK (dynamic imports: nothing of it is loaded when telemetry is off)
 * and returns a tracer exporting through a batch processor, or `undefined` when
 * `OTEL_EXPORTER_OTLP_ENDPOINT` is not set. The provider is not registered globally: only our
 * own spans are exported.
 */
export async function openTelemetry(
  config: TelemetryConfig,
  logger: Logger,
): Promise<Telemetry | undefined> {
  if (config.tracesUrl === undefined) return undefined;
  const [api, sdk, otlp, resources, semconv] = await Promise.all([
    import('@opentelemetry/api'),
    import('@opentelemetry/sdk-trace'),
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/resources'),
    import('@opentelemetry/semantic-conventions'),
  ]);

  // Export failures (collector down, 401) reach our log as warnings, never the headers.
  const log = (message: string, ...args: unknown[]) =>
    logger.warn(
      {
        component: 'opentelemetry',
        detail: args.length ? String(args[0]).slice(0, 500) : undefined,
      },
      `telemetry: ${message}`,
    );
  api.diag.setLogger(
    { error: log, warn: log, info: () => {}, debug: () => {}, verbose: () => {} },
    { logLevel: api.DiagLogLevel.WARN, suppressOverrideMessage: true },
  );

  const exporter = new otlp.OTLPTraceExporter({ url: config.tracesUrl, headers: config.headers });
  const provider = new sdk.TracerProvider({
    resource: resources
      .defaultResource()
      .merge(resources.resourceFromAttributes({ [semconv.ATTR_SERVICE_NAME]: config.serviceName })),
    spanProcessors: [new sdk.BatchSpanProcessor({ exporter })],
  });
  const tracer = provider.getTracer('braincells');
  const KIND = { client: api.SpanKind.CLIENT, internal: api.SpanKind.INTERNAL } as const;
  const shown = new URL(config.tracesUrl);
  logger.info(
    { url: `${shown.origin}${shown.pathname}` },
    'exporting traces (OpenTelemetry, OTLP/HTTP)',
  );

  const wrap = (span: Span): TelemetrySpan => ({
    setAttributes: (attributes) => span.setAttributes(defined(attributes)),
    addEvent: (name, attributes, at) => span.addEvent(name, defined(attributes), at),
    setError: (errorType, message) => {
      span.setAttribute(semconv.ATTR_ERROR_TYPE, errorType);
      span.setStatus({ code: api.SpanStatusCode.ERROR, message });
    },
    end: (at) => span.end(at),
  });

  let closed: Promise<void> | undefined;
  return {
    startSpan: (name, options) =>
      wrap(
        tracer.startSpan(
          name,
          {
            kind: KIND[options.kind],
            attributes: defined(options.attributes),
            ...(options.at === undefined ? {} : { startTime: options.at }),
          },
          // No parent from an ambient context: each LLM call is its own trace for now.
          api.ROOT_CONTEXT,
        ),
      ),
    flush: () => provider.forceFlush(),
    shutdown() {
      closed ??= provider.shutdown().catch((error: unknown) => {
        logger.warn({ err: error }, 'telemetry: final export failed');
      });
      return closed;
    },
  };
}
