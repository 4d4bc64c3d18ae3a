import { statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AppInstance } from './app-instance.ts';

/** Where `npm run build:web` writes the single-page app. */
export const DEFAULT_WEB_ROOT = fileURLToPath(new URL('../../../dist/web', import.meta.url));

export interface WebAssetOptions {
  /** The built SPA (index.html + assets/); defaults to dist/web. */
  root?: string;
}

const isFile = (file: string) => {
  try {
    return statSync(file).isFile();
  } catch {
    return false;
  }
};

/** The URL path as a file path inside the build, or undefined when it cannot be one. */
function assetPath(url: string): string | undefined {
  const pathname = url.split('?')[0]!;
  let decoded: string;
  try {
    decoded = decodeURIComponent(pathname);
  } catch {
    return undefined;
  }
  if (decoded.includes('\0') || decoded.includes('\\')) return undefined;
  const normalized = path.posix.normalize(decoded);
  if (normalized !== decoded || normalized.split('/').some((part) => part.startsWith('.')))
    return undefined;
  return normalized.slice(1);
}

const MISSING_BUILD_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Brain Cells: web app not built</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 4rem auto; line-height: 1.5">
<h1>The web app is not built yet</h1>
<p>This server serves the API (see <a href="/api/docs">/api/docs</a>), but the web app's files are missing from <code>dist/web</code>.</p>
<p>Build them with <code>npm run build:web</code>, or start the server with <code>make start</code> / <code>npm start</code>, which build them when they are missing or older than the sources.</p>
</body></html>`;

/**
 * Serves the single-page app at `/`: files of the build by path (hashed assets cached for a
 * year, pre-compressed .br/.gz siblings when the browser accepts them), and index.html for
 * any other GET outside /api so client-side routes survive a reload. Unknown /api paths keep
 * the JSON 404 envelope. Every route here is public: the app's code is not data.
 */
export async function webAssets(app: AppInstance, options: WebAssetOptions = {}): Promise<void> {
  const root = options.root ?? DEFAULT_WEB_ROOT;

  await app.register(async (web) => {
    web.addHook('onRoute', (route) => {
      route.config = { ...route.config, public: true };
    });
    await web.register(fastifyStatic, { root, serve: false, preCompressed: true, index: false });

    const sendIndex = (reply: FastifyReply) => {
      // index.html names the current hashed bundles: never cache it.
      reply.header('cache-control', 'no-cache');
      return reply.sendFile('index.html', { cacheControl: false });
    };

    const handler = async (request: FastifyRequest, reply: FastifyReply) => {
      const url = request.url;
      if (url === '/api' || url.startsWith('/api/') || url.startsWith('/api?'))
        return reply.callNotFound();
      if (!isFile(path.join(root, 'index.html'))) {
        return reply
          .status(503)
          .header('cache-control', 'no-store')
          .type('text/html; charset=utf-8')
          .send(MISSING_BUILD_PAGE);
      }
      const file = assetPath(url);
      if (file && file !== 'index.html' && isFile(path.join(root, file))) {
        const hashed = file.startsWith('assets/');
        return reply.sendFile(file, {
          cacheControl: true,
          immutable: hashed,
          maxAge: hashed ? 31_536_000_000 : 3_600_000,
        });
      }
      // A file-looking path that does not exist is a plain 404, not the app.
      if (file?.startsWith('assets/')) return reply.callNotFound();
      return sendIndex(reply);
    };

    web.get('/', { schema: { hide: true } }, handler);
    web.get('/*', { schema: { hide: true } }, handler);
  });
}
