// The subscribers of bench/chat-sse.bench.ts, in their own process (as browsers would be): opens
// COUNT Server-Sent Events connections to URL with AUTH, the first of which never reads. Prints
// `ready` once every connection has its headers, `filled` once every reading client has seen
// `bench-filled`, then, when every reading client has seen the `bench-end` event, one JSON line: the delivery latencies (now − the event's `sentAt`, both
// `performance.timeOrigin + performance.now()`, comparable across processes on one machine).
import http from 'node:http';

const [url, auth, countText] = process.argv.slice(2);
const count = Number(countText);
const agent = new http.Agent({ keepAlive: false, maxSockets: Number.POSITIVE_INFINITY });
const now = () => performance.timeOrigin + performance.now();
const latencies: number[] = [];
let headers = 0;
let ended = 0;
let filled = 0;
let stalledBytes = 0;

for (let index = 0; index < count; index++) {
  const stalled = index === 0;
  const request = http.get(url!, { agent, headers: { authorization: auth! } }, (response) => {
    if (response.statusCode !== 200) {
      process.stderr.write(`subscriber ${index}: HTTP ${response.statusCode}\n`);
      process.exit(1);
    }
    if (++headers === count) process.stdout.write('ready\n');
    if (stalled) {
      // Never reads: what the server wrote stays in the socket buffers, then in its queue.
      response.once('data', (chunk: Buffer) => {
        stalledBytes += chunk.length;
        response.pause();
      });
      return;
    }
    response.setEncoding('utf8');
    let buffer = '';
    response.on('data', (chunk: string) => {
      buffer += chunk;
      let end = buffer.indexOf('\n\n');
      while (end !== -1) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        end = buffer.indexOf('\n\n');
        const type = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (!type || !data) continue;
        if (type === 'bench-filled') {
          if (++filled === count - 1) process.stdout.write('filled\n');
          continue;
        }
        if (type === 'bench-end') {
          if (++ended === count - 1) {
            // A pipe write is asynchronous: exit once it is flushed, or the line is cut short.
            process.stdout.write(`${JSON.stringify({ latencies, stalledBytes })}\n`, () =>
              process.exit(0),
            );
          }
          continue;
        }
        const sentAt = (JSON.parse(data) as { sentAt?: number }).sentAt;
        if (typeof sentAt === 'number') latencies.push(now() - sentAt);
      }
    });
  });
  request.on('error', (error) => {
    process.stderr.write(`subscriber ${index}: ${error.message}\n`);
    process.exit(1);
  });
}
