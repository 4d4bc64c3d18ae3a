import { collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/**
 * One registry per app instance (not prom-client's global one), so several apps in one
 * test process never share counters.
 */
export interface Metrics {
  registry: Registry;
  httpDuration: Histogram<'method' | 'route' | 'status_code'>;
}

export interface MetricsOptions {
  /** Called on each scrape; returns waiting + active jobs per queue. */
  queueDepth?: () => Promise<{ name: string; queued: number; active: number }[]>;
}

export function createMetrics(options: MetricsOptions = {}): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'braincells_' });

  const httpDuration = new Histogram({
    name: 'braincells_http_request_duration_seconds',
    help: 'HTTP request duration by route pattern and status code',
    labelNames: ['method', 'route', 'status_code'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });

  const { queueDepth } = options;
  if (queueDepth) {
    new Gauge({
      name: 'braincells_job_queue_depth',
      help: 'Jobs waiting (state=queued) or running (state=active) per queue',
      labelNames: ['queue', 'state'] as const,
      registers: [registry],
      async collect() {
        this.reset();
        try {
          for (const queue of await queueDepth()) {
            this.set({ queue: queue.name, state: 'queued' }, queue.queued);
            this.set({ queue: queue.name, state: 'active' }, queue.active);
          }
        } catch {
          // A queue that cannot answer shows up in /readyz; the scrape still succeeds.
        }
      },
    });
  }

  return { registry, httpDuration };
}
