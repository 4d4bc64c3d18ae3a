import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProject, createSignedInUser, type TestSession } from '../../../test/factories.ts';
import { createTestApp, type TestApp } from '../../../test/test-platform.ts';
import { loadConfig } from '../config.ts';

/** A raw client socket that collects what the server sends until it closes the connection. */
async function rawClient(port: number) {
  const socket = net.connect({ port, host: '127.0.0.1' });
  let received = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    received += chunk;
  });
  // A reset after the server closed is expected for a client still writing.
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return {
    socket,
    closed,
    received: () => received,
    /** Resolves once the server's answer contains `text`. */
    until: (text: string) =>
      new Promise<void>((resolve) => {
        const check = () => {
          if (received.includes(text)) {
            socket.off('data', check);
            resolve();
          }
        };
        socket.on('data', check);
        check();
      }),
  };
}

describe('HTTP server limits', () => {
  let t: TestApp;
  let port: number;
  let session: TestSession;

  beforeAll(async () => {
    const defaults = loadConfig({}, {});
    t = await createTestApp({
      config: {
        bodyLimit: 1024,
        sheets: { ...defaults.sheets, importMaxBytes: 4_096 },
        http: {
          ...defaults.http,
          headersTimeoutMs: 1_000,
          maxConnectionsPerIp: 3,
          overflowConnectionsPerIp: 1,
        },
      },
    });
    session = await createSignedInUser(t);
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    port = (t.app.server.address() as net.AddressInfo).port;
  });
  afterAll(async () => {
    await t.close();
  });

  const head = (extra: string) =>
    `POST /api/projects HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\ncontent-type: application/json\r\n${extra}\r\n`;

  const auth = () => `cookie: ${session.headers.cookie}\r\nx-csrf-token: ${session.csrfToken}\r\n`;

  it('has request and header deadlines by default', () => {
    const defaults = loadConfig({}, {});
    expect(defaults.http).toEqual({
      requestTimeoutMs: 600_000,
      headersTimeoutMs: 20_000,
      maxConnectionsPerIp: 100,
      overflowConnectionsPerIp: 2_000,
    });
    expect(t.app.server.requestTimeout).toBe(defaults.http.requestTimeoutMs);
    expect(t.app.server.headersTimeout).toBe(1_000);
  });

  it('closes the connection after a 413, so a client still streaming its body does not hang', async () => {
    const client = await rawClient(port);
    client.socket.write(`${head(`${auth()}transfer-encoding: chunked\r\n`)}`);
    // An endless chunked body: the first 4 KiB pass the 1 KiB limit; no final chunk follows.
    const chunk = `{"name":"${'x'.repeat(4_000)}`;
    client.socket.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`);
    await client.until('PAYLOAD_TOO_LARGE');
    expect(client.received()).toMatch(/^HTTP\/1\.1 413 /);
    expect(client.received().toLowerCase()).toContain('connection: close');
    client.socket.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`);
    await client.closed;
  });

  it('closes the connection when an upload streams past the import cap (413)', async () => {
    const project = await createProject(t, session);
    const client = await rawClient(port);
    const boundary = 'braincells-limit';
    client.socket.write(
      `POST /api/projects/${project.id}/imports HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\n${auth()}content-type: multipart/form-data; boundary=${boundary}\r\ntransfer-encoding: chunked\r\n\r\n`,
    );
    const part = `--${boundary}\r\ncontent-disposition: form-data; name="file"; filename="big.csv"\r\ncontent-type: text/csv\r\n\r\na,b\n${'1,2\n'.repeat(4_000)}`;
    client.socket.write(`${Buffer.byteLength(part).toString(16)}\r\n${part}\r\n`);
    await client.until('PAYLOAD_TOO_LARGE');
    expect(client.received()).toMatch(/^HTTP\/1\.1 413 /);
    expect(client.received().toLowerCase()).toContain('connection: close');
    // The client streams on; the server has hung up.
    const more = '3,4\n'.repeat(1_000);
    client.socket.write(`${more.length.toString(16)}\r\n${more}\r\n`);
    await client.closed;
  });

  it('closes it too when a declared length is refused before the body is read', async () => {
    const client = await rawClient(port);
    client.socket.write(head(`${auth()}content-length: 100000000\r\n`));
    client.socket.write('{"name":"');
    await client.until('PAYLOAD_TOO_LARGE');
    await client.closed;
    // Refused for want of credentials before reading a streamed body: the same.
    const anonymous = await rawClient(port);
    anonymous.socket.write(head('transfer-encoding: chunked\r\n'));
    anonymous.socket.write('5\r\n{"na"\r\n');
    await anonymous.until('UNAUTHENTICATED');
    expect(anonymous.received().toLowerCase()).toContain('connection: close');
    await anonymous.closed;
  });

  it('cuts a client that trickles its headers past the headers deadline (408)', async () => {
    const client = await rawClient(port);
    client.socket.write(`GET /healthz HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\nx-slow: 1`);
    await client.closed;
    expect(client.received()).toMatch(/^HTTP\/1\.1 408 /);
  });

  it('bounds the connections one address holds open; the others keep working', async () => {
    const clients = [await rawClient(port), await rawClient(port), await rawClient(port)];
    // Each answers a request, so the server has counted all three.
    for (const client of clients) {
      client.socket.write(`GET /healthz HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\n\r\n`);
      await client.until('\r\n\r\n');
      expect(client.received()).toMatch(/^HTTP\/1\.1 200 /);
    }
    // Past the bound, the overflow (here one connection) serves only routes that allow it
    // (the gateway's): anything else is answered 429 and closed. Past both, closed at once.
    // The server accepts connections in the order they were made.
    const overflow = await rawClient(port);
    const refused = await rawClient(port);
    overflow.socket.write(`GET /healthz HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\n\r\n`);
    refused.socket.write(`GET /healthz HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\n\r\n`);
    await refused.closed;
    expect(refused.received()).toBe('');
    await overflow.closed;
    expect(overflow.received()).toMatch(/^HTTP\/1\.1 429 /);
    expect(overflow.received().toLowerCase()).toContain('connection: close');
    // One closes; a new connection is served once the server has seen it go.
    clients[0]!.socket.end();
    await clients[0]!.closed;
    let served = false;
    for (let attempt = 0; attempt < 200 && !served; attempt++) {
      const next = await rawClient(port);
      next.socket.write(
        `GET /healthz HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\nconnection: close\r\n\r\n`,
      );
      await next.closed;
      served = next.received().startsWith('HTTP/1.1 200 ');
    }
    expect(served).toBe(true);
    for (const client of clients.slice(1)) client.socket.destroy();
  });
});
