import dns from 'node:dns';
import net from 'node:net';
import { inject } from 'vitest';

/**
 * Runs before every test file: no test may reach past this machine. Any TCP connection to a
 * non-loopback address, or a DNS lookup of anything but localhost, throws.
 */
process.env.TZ = 'UTC';
// The run's temporary directory (test/global-setup.ts: in RAM when there is room): os.tmpdir()
// reads TMPDIR, and spawned processes inherit it.
process.env.TMPDIR = inject('testTmpDir');

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost|::ffff:127\.\d+\.\d+\.\d+)$/i;

export class OutboundNetworkError extends Error {
  constructor(target: string) {
    super(`test attempted an outbound network connection to ${target}`);
    this.name = 'OutboundNetworkError';
  }
}

function targetOf(args: unknown[]): { host?: string; port?: unknown; path?: string } {
  const [first, second] = args;
  if (Array.isArray(first)) return targetOf(first);
  if (typeof first === 'object' && first !== null) {
    const options = first as { host?: string; port?: unknown; path?: string };
    return {
      host: options.host ?? 'localhost',
      port: options.port,
      ...(options.path ? { path: options.path } : {}),
    };
  }
  if (typeof first === 'string' && Number.isNaN(Number(first))) return { path: first };
  return { host: typeof second === 'string' ? second : 'localhost', port: first };
}

const originalConnect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function guardedConnect(this: net.Socket, ...args: unknown[]) {
  const target = targetOf(args);
  if (!target.path && target.host && !LOOPBACK.test(target.host)) {
    throw new OutboundNetworkError(`${target.host}:${String(target.port)}`);
  }
  return (originalConnect as (...a: unknown[]) => net.Socket).apply(this, args);
} as typeof net.Socket.prototype.connect;

const originalLookup = dns.lookup;
dns.lookup = function guardedLookup(hostname: string, ...rest: unknown[]) {
  if (!LOOPBACK.test(hostname)) throw new OutboundNetworkError(hostname);
  return (originalLookup as (...a: unknown[]) => void).call(dns, hostname, ...rest);
} as typeof dns.lookup;

const originalPromiseLookup = dns.promises.lookup;
dns.promises.lookup = async function guardedPromiseLookup(hostname: string, ...rest: unknown[]) {
  if (!LOOPBACK.test(hostname)) throw new OutboundNetworkError(hostname);
  return (originalPromiseLookup as (...a: unknown[]) => Promise<unknown>).call(
    dns.promises,
    hostname,
    ...rest,
  );
} as typeof dns.promises.lookup;
