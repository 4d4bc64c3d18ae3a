import http from 'node:http';
import net from 'node:net';
import { describe, expect, it } from 'vitest';

describe('test network guard', () => {
  it('refuses a TCP connection to a non-loopback address', () => {
    expect(() => net.connect({ host: '10.1.2.3', port: 80 })).toThrow(
      /outbound network connection to 10\.1\.2\.3/,
    );
  });

  it('refuses fetch to a public host name', async () => {
    const error = await fetch('http://example.com/').then(
      () => undefined,
      (caught: Error) => caught,
    );
    // Refused by the guard itself, not by a missing network.
    expect(String((error?.cause as Error | undefined)?.message)).toContain(
      'outbound network connection to example.com',
    );
  });

  it('allows loopback', async () => {
    const server = http.createServer((_request, response) => response.end('local'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as net.AddressInfo;
    try {
      expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe('local');
      expect(await (await fetch(`http://localhost:${port}/`)).text()).toBe('local');
    } finally {
      server.close();
    }
  });
});
