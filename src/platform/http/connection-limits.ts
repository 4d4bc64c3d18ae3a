import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from '../logger.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * Requests of this route may arrive on a connection past the per-address bound (the
     * overflow): its callers authenticate every request and have their own bound (the
     * gateway's per-key concurrency). Any other route answers them 429 and closes.
     */
    connectionOverflow?: boolean;
  }
}

const overflowSockets = new WeakSet<Socket>();

/** Whether a connection was opened past its address's bound, into the overflow. */
export function isOverflowConnection(socket: Socket | null | undefined): boolean {
  return socket ? overflowSockets.has(socket) : false;
}

/**
 * Bounds the connections one client address holds open: a flood of idle or trickling sockets
 * from one address cannot take every file descriptor of the server. Past `max`, `overflow`
 * more are accepted but marked (`isOverflowConnection`): only routes that allow it
 * (`config.connectionOverflow`) serve requests on them, so one app server calling the gateway
 * a thousand times at once is not cut off. A connection past both is closed as soon as it
 * opens, before any request is read. `max` 0 means no bound. Behind a reverse proxy every
 * connection comes from the proxy (trustProxy is off), so the setting must be raised or turned
 * off there (docs/security.md).
 */
export function limitConnectionsPerIp(
  server: Server,
  max: number,
  logger: Logger,
  overflow = 0,
): void {
  if (max <= 0) return;
  const open = new Map<string, number>();
  server.on('connection', (socket: Socket) => {
    const address = socket.remoteAddress ?? 'unknown';
    const count = open.get(address) ?? 0;
    if (count >= max + overflow) {
      logger.warn(
        { address, max, overflow },
        'connection refused: too many open from this address',
      );
      socket.destroy();
      return;
    }
    if (count >= max) overflowSockets.add(socket);
    open.set(address, count + 1);
    socket.once('close', () => {
      const left = (open.get(address) ?? 1) - 1;
      if (left > 0) open.set(address, left);
      else open.delete(address);
    });
  });
}
