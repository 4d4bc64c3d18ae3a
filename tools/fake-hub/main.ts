import { parseArgs } from 'node:util';
import { startFakeHub } from './fake-hub-server.ts';

// node tools/fake-hub/main.ts [--port N] [--host H] [--token T --user U]
// A local Hub for trying `braincells publish` offline: BRAINCELLS_HF_HUB_URL=<its url>.

const usage = 'usage: node tools/fake-hub/main.ts [--port N] [--host H] [--token T] [--user U]';
let values: Record<string, string | boolean | undefined>;
try {
  values = parseArgs({
    options: {
      port: { type: 'string', default: '0' },
      host: { type: 'string', default: '127.0.0.1' },
      token: { type: 'string', default: 'hf-fake-hub-token' },
      user: { type: 'string', default: 'tester' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  }).values;
} catch (error) {
  console.error(`fake-hub: ${(error as Error).message}`);
  console.error(usage);
  process.exit(2);
}
if (values.help) {
  console.log(usage);
  process.exit(0);
}
const port = Number(values.port);
if (!Number.isInteger(port) || port < 0) {
  console.error(usage);
  process.exit(2);
}
const hub = await startFakeHub({
  port,
  host: values.host as string,
  tokens: { [values.token as string]: values.user as string },
});
console.log(`fake-hub listening on ${hub.url} (account ${values.user as string})`);
const stop = async () => {
  await hub.close();
  process.exit(0);
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
