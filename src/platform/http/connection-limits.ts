import type { Server } from 'node:http';
import type { Logger } from '../logger.ts';

/**
 * Bounds the connections one client address holds open: a flood of idle or trickling sockets
 * from one address cannot take every file descriptor of the server. A connection past the
 * bound is closed as soon as it opens, before any request is read. `max` 0 means no bound.
 * Behind a reverse proxy every connection comes from the proxy (trustProxy is off), so the
 * setting must be raised or turned off there (docs/security.md).
 */
export function limitConnectionsPerIp(server: Server, max: number, logger: Logger): void {
  if (max <= 0) return;
  const open = new Map<string, number>();
  server.on('connection', (socket) => {
    const address = socket.remoteAddress ?? 'unknown';
    const count = open.get(address) ?? 0;
    if (count >= max) {
      logger.warn({ address, max }, 'connection refused: too many open from this address');
      socket.destroy();
      return;
    }
    open.set(address, count + 1);
    socket.once('close', () => {
      const left = (open.get(address) ?? 1) - 1;
      if (left > 0) open.set(address, left);
      else open.delete(address);
    });
  });
}
