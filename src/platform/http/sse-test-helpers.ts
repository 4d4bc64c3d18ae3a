import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TestApp } from '../../../test/test-platform.ts';

/**
 * Opens an event stream on a listening test app and reads it until `until` shows up; returns
 * everything read and closes the stream.
 */
export async function readEventsUntil(
  app: TestApp['app'],
  url: string,
  headers: Record<string, string>,
  until: string,
): Promise<string> {
  const port = (app.server.address() as AddressInfo).port;
  const request = http.get(`http://127.0.0.1:${port}${url}`, { headers });
  const response = await new Promise<http.IncomingMessage>((resolve) =>
    request.on('response', resolve),
  );
  response.setEncoding('utf8');
  const text = await new Promise<string>((resolve) => {
    let buffer = '';
    response.on('data', (data: string) => {
      buffer += data;
      if (buffer.includes(until)) resolve(buffer);
    });
  });
  request.destroy();
  return text;
}
