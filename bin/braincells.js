#!/usr/bin/env node
// Launcher for the `braincells` command. The sources are TypeScript that Node >= 22.18 runs
// directly (type stripping); on an older Node this hands over to the project-local Node 24
// that `make start` / `make test` bootstrap into .tools/node24.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  const local = fileURLToPath(new URL('../.tools/node24/node_modules/.bin/node', import.meta.url));
  if (!existsSync(local)) {
    console.error(
      `braincells: Node ${process.versions.node} is too old (need >= 22.18); run \`make start\` once to bootstrap Node 24`,
    );
    process.exit(1);
  }
  const child = spawn(local, process.argv.slice(1), { stdio: 'inherit' });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(signal, () => child.kill(signal));
  }
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
} else {
  await import('../src/cli/main.ts');
}
