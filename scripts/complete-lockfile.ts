// The npm registry reachable from these machines serves only the platform packages for
// linux-x64, so `npm install` leaves out the lockfile entries of other platforms' optional
// binaries (biome, duckdb …) and `npm ci` then refuses the lockfile as "not in sync".
// This adds those entries back, as the public registry would have written them (without
// integrity, which this registry cannot give us); npm skips them by os/cpu on install.
// Run after every `npm install`: `node scripts/complete-lockfile.ts`.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

interface LockEntry {
  version?: string;
  dev?: boolean;
  optional?: boolean;
  optionalDependencies?: Record<string, string>;
  os?: string[];
  cpu?: string[];
  libc?: string[];
}

const PLATFORMS: [RegExp, Partial<LockEntry>][] = [
  [/-linux-x64-musl$/, { os: ['linux'], cpu: ['x64'], libc: ['musl'] }],
  [/-linux-arm64-musl$/, { os: ['linux'], cpu: ['arm64'], libc: ['musl'] }],
  [/-linux-x64(-gnu)?$/, { os: ['linux'], cpu: ['x64'] }],
  [/-linux-arm64(-gnu)?$/, { os: ['linux'], cpu: ['arm64'] }],
  [/-darwin-x64$/, { os: ['darwin'], cpu: ['x64'] }],
  [/-darwin-arm64$/, { os: ['darwin'], cpu: ['arm64'] }],
  [/-win32-x64(-msvc)?$/, { os: ['win32'], cpu: ['x64'] }],
  [/-win32-arm64(-msvc)?$/, { os: ['win32'], cpu: ['arm64'] }],
  [/-android-arm64$/, { os: ['android'], cpu: ['arm64'] }],
  [/-android-x64$/, { os: ['android'], cpu: ['x64'] }],
];

export function completeLockfile(lock: { packages: Record<string, LockEntry> }): string[] {
  const added: string[] = [];
  for (const [location, entry] of Object.entries(lock.packages)) {
    for (const [name, range] of Object.entries(entry.optionalDependencies ?? {})) {
      const nested = `${location ? `${location}/` : ''}node_modules/${name}`;
      const hoisted = `node_modules/${name}`;
      if (lock.packages[nested] || lock.packages[hoisted]) continue;
      const platform = PLATFORMS.find(([pattern]) => pattern.test(name))?.[1];
      if (!platform || !/^\d+\.\d+\.\d+/.test(range)) continue;
      lock.packages[hoisted] = {
        version: range,
        ...(entry.dev ? { dev: true } : {}),
        optional: true,
        ...platform,
      };
      added.push(`${name}@${range}`);
    }
  }
  lock.packages = Object.fromEntries(
    Object.entries(lock.packages).sort(([a], [b]) =>
      a === '' ? -1 : b === '' ? 1 : a.localeCompare(b),
    ),
  );
  return added;
}

if (import.meta.main) {
  const file = path.resolve(process.argv[2] ?? 'package-lock.json');
  const lock = JSON.parse(readFileSync(file, 'utf8'));
  const added = completeLockfile(lock);
  writeFileSync(file, `${JSON.stringify(lock, null, 2)}\n`);
  process.stdout.write(added.length ? `added ${added.join(', ')}\n` : 'lockfile complete\n');
}
