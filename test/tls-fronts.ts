import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';

/**
 * Certificates made for one test file with openssl, and TLS "fronts": local servers that speak
 * TLS with those certificates and pass the plain bytes on to the PostgreSQL or Redis of this
 * machine. A client sees a real TLS server (handshake, chain, host name) without a second
 * database server to start and stop.
 */
export interface TestCertificates {
  dir: string;
  /** The CA that signed both server certificates. */
  caFile: string;
  /** A CA that signed nothing here: trusting it alone must fail. */
  otherCaFile: string;
  /** Valid for 127.0.0.1 and localhost. */
  server: { key: string; cert: string };
  /** Signed by the right CA, but for db.example.internal only. */
  wrongHost: { key: string; cert: string };
  remove(): void;
}

const OPENSSL = '/usr/bin/openssl';

function openssl(dir: string, args: string[]): void {
  execFileSync(OPENSSL, args, { cwd: dir, stdio: 'pipe' });
}

function makeCa(dir: string, name: string): void {
  openssl(dir, [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.crt`,
    '-days',
    '2',
    '-subj',
    `/CN=Brain Cells test ${name}`,
  ]);
}

function makeServerCertificate(dir: string, name: string, altNames: string) {
  writeFileSync(
    path.join(dir, `${name}.ext`),
    `subjectAltName=${altNames}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n`,
  );
  openssl(dir, [
    'req',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.csr`,
    '-subj',
    `/CN=${name}`,
  ]);
  openssl(dir, [
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    `${name}.crt`,
    '-days',
    '2',
    '-extfile',
    `${name}.ext`,
  ]);
  return {
    key: readFileSync(path.join(dir, `${name}.key`), 'utf8'),
    cert: readFileSync(path.join(dir, `${name}.crt`), 'utf8'),
  };
}

export function makeTestCertificates(): TestCertificates {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'braincells-tls-'));
  makeCa(dir, 'ca');
  makeCa(dir, 'other-ca');
  return {
    dir,
    caFile: path.join(dir, 'ca.crt'),
    otherCaFile: path.join(dir, 'other-ca.crt'),
    server: makeServerCertificate(dir, 'server', 'IP:127.0.0.1,DNS:localhost'),
    wrongHost: makeServerCertificate(dir, 'wrong-host', 'DNS:db.example.internal'),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export interface TlsFront {
  port: number;
  close(): Promise<void>;
}

// PostgreSQL's SSLRequest: length 8, then the code 1234.5679 (protocol docs, "SSLRequest").
const SSL_REQUEST = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);

function pipeTo(client: net.Socket | tls.TLSSocket, upstream: { host: string; port: number }) {
  const server = net.connect(upstream);
  const closeBoth = () => {
    client.destroy();
    server.destroy();
  };
  client.on('error', closeBoth);
  server.on('error', closeBoth);
  client.on('close', closeBoth);
  server.on('close', closeBoth);
  client.pipe(server).pipe(client);
}

async function listen(server: net.Server): Promise<TlsFront> {
  const sockets = new Set<net.Socket>();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/**
 * PostgreSQL over TLS: answers the client's SSLRequest with `S`, does the TLS handshake with
 * `certificate`, then relays the plain protocol to `upstream` (a trust-auth local server).
 */
export function postgresTlsFront(
  certificate: { key: string; cert: string },
  upstream: { host: string; port: number },
): Promise<TlsFront> {
  const server = net.createServer((socket) => {
    socket.on('error', () => socket.destroy());
    socket.once('data', (first) => {
      if (!first.equals(SSL_REQUEST)) {
        // A client that does not ask for TLS gets nothing: this front only speaks TLS.
        socket.destroy();
        return;
      }
      socket.write('S');
      const secure = new tls.TLSSocket(socket, { isServer: true, ...certificate });
      pipeTo(secure, upstream);
    });
  });
  return listen(server);
}

/** Redis over TLS (`rediss://`): the handshake with `certificate`, then relays to `upstream`. */
export function redisTlsFront(
  certificate: { key: string; cert: string },
  upstream: { host: string; port: number },
): Promise<TlsFront> {
  const server = tls.createServer(certificate, (socket) => pipeTo(socket, upstream));
  server.on('tlsClientError', () => {});
  return listen(server);
}
