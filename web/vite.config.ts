import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import react from '@vitejs/plugin-react';
import { defineConfig, type Plugin } from 'vite';

const root = fileURLToPath(new URL('.', import.meta.url));
const outDir = fileURLToPath(new URL('../dist/web', import.meta.url));

/** Writes .br and .gz beside each text asset; the server sends them to browsers that accept them. */
function precompress(): Plugin {
  return {
    name: 'braincells-precompress',
    apply: 'build',
    enforce: 'post',
    writeBundle(options, bundle) {
      const dir = options.dir ?? outDir;
      for (const file of Object.keys(bundle)) {
        if (!/\.(js|css|html|svg|json)$/.test(file)) continue;
        const source = readFileSync(path.join(dir, file));
        if (source.length < 1024) continue;
        writeFileSync(path.join(dir, `${file}.gz`), gzipSync(source, { level: 9 }));
        writeFileSync(
          path.join(dir, `${file}.br`),
          brotliCompressSync(source, { params: { [constants.BROTLI_PARAM_QUALITY]: 9 } }),
        );
      }
    },
  };
}

// The SPA is served by the API server from dist/web (src/platform/http/web-assets.ts), same
// origin as /api. `npm run dev:web` proxies /api to a server on :8080 for hot reloading.
export default defineConfig({
  root,
  base: '/',
  plugins: [react(), precompress()],
  build: {
    outDir,
    emptyOutDir: true,
    sourcemap: true,
    // No inline scripts, no eval: the bundle runs under `script-src 'self'`.
    modulePreload: { polyfill: false },
    chunkSizeWarningLimit: 1024,
  },
  server: {
    proxy: { '/api': { target: 'http://127.0.0.1:8080', changeOrigin: false } },
  },
});
