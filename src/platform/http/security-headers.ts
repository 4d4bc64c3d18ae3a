import cors from '@fastify/cors';
import helmet from '@fastify/helmet';
import type { AppInstance } from './app-instance.ts';

export interface SecurityHeaderSettings {
  /** Browser origins allowed cross-origin; empty = none. */
  corsOrigins: readonly string[];
  /** Served over TLS (or behind a TLS proxy): ask browsers to upgrade subresources. */
  secure: boolean;
  /** Allow https: images from other hosts (image-URL cells as thumbnails). */
  remoteImages: boolean;
}

/**
 * helmet's defaults plus a Content-Security-Policy for the single-page app: everything from
 * our own origin, no inline scripts, no framing, no plugins. Inline styles stay allowed
 * because the SPA's component styles and the API docs page use them. CORS is closed unless
 * origins are listed.
 */
export async function installSecurityHeaders(
  app: AppInstance,
  settings: SecurityHeaderSettings,
): Promise<void> {
  await app.register(helmet, {
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        'default-src': ["'self'"],
        'base-uri': ["'self'"],
        'connect-src': ["'self'"],
        'font-src': ["'self'", 'data:'],
        'form-action': ["'self'"],
        'frame-ancestors': ["'none'"],
        // https: images (unless BRAINCELLS_REMOTE_IMAGES=false): the grid shows image-URL cells
        // as thumbnails, sent without a referrer, with a per-column toggle. Images cannot run
        // script; what a remote image reveals is that someone viewed it, and from which IP.
        'img-src': ["'self'", 'data:', 'blob:', ...(settings.remoteImages ? ['https:'] : [])],
        'object-src': ["'none'"],
        'script-src': ["'self'"],
        'script-src-attr': ["'none'"],
        'style-src': ["'self'", "'unsafe-inline'"],
        'worker-src': ["'self'", 'blob:'],
        ...(settings.secure ? { 'upgrade-insecure-requests': [] } : {}),
      },
    },
    // Only meaningful over TLS; harmless otherwise.
    strictTransportSecurity: settings.secure
      ? { maxAge: 31_536_000, includeSubDomains: true }
      : false,
  });

  await app.register(cors, {
    origin: settings.corsOrigins.length > 0 ? [...settings.corsOrigins] : false,
    credentials: true,
    methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
    allowedHeaders: [
      'content-type',
      'authorization',
      'x-csrf-token',
      'x-request-id',
      'last-event-id',
    ],
    exposedHeaders: ['x-request-id', 'retry-after'],
    maxAge: 600,
  });
}
