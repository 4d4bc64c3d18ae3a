import dns from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { Readable } from 'node:stream';
import { z } from 'zod';
import { AppError, validationError } from '../../platform/app-error.ts';
import { tooLarge } from './import-files.ts';

/**
 * The URL a user asks us to import: http or https only, checked where the request is
 * validated so `file:`, `gopher:`, `ftp:` and non-URLs answer 400 naming `url`.
 */
export const importUrlSchema = z
  .string()
  .max(4_000)
  .refine((text) => {
    try {
      const url = new URL(text);
      return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '';
    } catch {
      return false;
    }
  }, 'must be an http or https URL')
  .describe('An http(s) URL of a CSV, TSV, JSON, JSONL, Parquet or XLSX file');

/**
 * Downloads for URL and Hub imports, with SSRF protection: the address checked is the one the
 * socket connects to (our own DNS lookup feeds the connection, so a name cannot resolve to a
 * public address for the check and a private one for the request), literal IPs are checked
 * too, and every redirect is a new request checked the same way.
 */
const BLOCKED = new net.BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10], // carrier-grade NAT
  ['127.0.0.0', 8],
  ['169.254.0.0', 16], // link-local, cloud metadata
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  BLOCKED.addSubnet(network, prefix, 'ipv4');
}
for (const [network, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7], // unique local
  ['fe80::', 10], // link-local
  ['ff00::', 8],
  ['64:ff9b::', 96], // NAT64 can reach private IPv4
] as const) {
  BLOCKED.addSubnet(network, prefix, 'ipv6');
}

/** Private, loopback, link-local and other non-public addresses (IPv4-mapped IPv6 included). */
export function isPrivateAddress(address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return BLOCKED.check(mapped[1]!, 'ipv4');
  const family = net.isIP(address);
  if (family === 4) return BLOCKED.check(address, 'ipv4');
  if (family === 6) return BLOCKED.check(address, 'ipv6');
  return true;
}

export interface DownloadOptions {
  maxBytes: number;
  /** Allow private/loopback/link-local targets (BRAINCELLS_IMPORT_ALLOW_PRIVATE_URLS). */
  allowPrivate: boolean;
  /** Decides whether an address may be reached; defaults to "public only" unless allowPrivate. */
  addressAllowed?: (address: string) => boolean;
  /** Hosts trusted whatever they resolve to (the configured Hub). */
  trustedHosts?: ReadonlySet<string>;
  headers?: Record<string, string>;
  /** Headers sent only to trusted hosts (an HF token never follows a redirect elsewhere). */
  trustedHeaders?: Record<string, string>;
  maxRedirects?: number;
  timeoutMs?: number;
  signal?: AbortSignal;
}

const refusedTarget = (host: string) =>
  new AppError(
    'VALIDATION_ERROR',
    `Refusing to fetch from ${host}: private, loopback and link-local addresses are not allowed`,
    {
      details: { issues: [{ path: 'url', message: 'address not allowed' }] },
    },
  );

export interface Download {
  stream: Readable;
  contentLength: number | undefined;
  finalUrl: string;
}

/** Opens a GET whose body the caller streams (to a temp file, with the same size cap). */
export async function openDownload(url: string, options: DownloadOptions): Promise<Download> {
  let current: URL;
  try {
    current = new URL(url);
  } catch {
    throw validationError('Not a valid URL', [{ path: 'url', message: 'invalid URL' }]);
  }
  const allowed =
    options.addressAllowed ??
    ((address: string) => options.allowPrivate || !isPrivateAddress(address));
  for (let redirects = 0; ; redirects++) {
    if (current.protocol !== 'http:' && current.protocol !== 'https:') {
      throw validationError('Only http and https URLs can be imported', [
        { path: 'url', message: 'unsupported scheme' },
      ]);
    }
    if (current.username || current.password)
      throw validationError('URLs with credentials are not allowed', [
        { path: 'url', message: 'credentials' },
      ]);
    const host = current.hostname.replace(/^\[|\]$/g, '');
    const trusted = options.trustedHosts?.has(current.host) ?? false;
    if (!trusted && net.isIP(host) && !allowed(host)) throw refusedTarget(host);
    const response = await request(current, trusted, allowed, options);
    const status = response.statusCode ?? 0;
    if (status >= 300 && status < 400 && response.headers.location) {
      response.resume();
      if (redirects >= (options.maxRedirects ?? 5))
        throw new AppError('VALIDATION_ERROR', 'Too many redirects');
      current = new URL(response.headers.location, current);
      continue;
    }
    if (status === 401 || status === 403) {
      response.resume();
      throw new AppError('FORBIDDEN', `The server refused access (${status})`);
    }
    if (status === 404) {
      response.resume();
      throw new AppError('NOT_FOUND', 'The file was not found at that URL');
    }
    if (status < 200 || status >= 300) {
      response.resume();
      throw new AppError('PROVIDER_ERROR', `The server answered ${status}`, {
        retryable: status >= 500,
      });
    }
    const length = Number(response.headers['content-length']);
    if (Number.isFinite(length) && length > options.maxBytes) {
      response.destroy();
      throw tooLarge(options.maxBytes);
    }
    return {
      stream: response,
      contentLength: Number.isFinite(length) ? length : undefined,
      finalUrl: current.toString(),
    };
  }
}

function request(
  url: URL,
  trusted: boolean,
  allowed: (address: string) => boolean,
  options: DownloadOptions,
): Promise<http.IncomingMessage> {
  const lookup: net.LookupFunction = (hostname, lookupOptions, callback) => {
    dns.lookup(hostname, { ...lookupOptions, all: true }, (error, addresses) => {
      if (error) return callback(error, '', 4);
      const list = addresses as dns.LookupAddress[];
      const usable = trusted ? list : list.filter((entry) => allowed(entry.address));
      if (usable.length === 0) return callback(refusedTarget(hostname), '', 4);
      if ((lookupOptions as { all?: boolean }).all)
        return (callback as unknown as (e: null, a: dns.LookupAddress[]) => void)(null, usable);
      callback(null, usable[0]!.address, usable[0]!.family);
    });
  };
  const client = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const outgoing = client.get(
      url,
      {
        lookup,
        headers: {
          'user-agent': 'braincells-import',
          ...options.headers,
          ...(trusted ? options.trustedHeaders : {}),
        },
        timeout: options.timeoutMs ?? 30_000,
        ...(options.signal ? { signal: options.signal } : {}),
      },
      resolve,
    );
    outgoing.on('timeout', () =>
      outgoing.destroy(new AppError('TIMEOUT', 'The server did not answer in time')),
    );
    outgoing.on('error', (error) =>
      reject(
        error instanceof AppError
          ? error
          : new AppError('PROVIDER_UNAVAILABLE', 'Could not download the file', { cause: error }),
      ),
    );
  });
}
