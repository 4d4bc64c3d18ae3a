import { parseArgs } from 'node:util';
import type { FaultOptions } from './fake-llm-faults.ts';
import { startFakeLlm } from './fake-llm-server.ts';

// node tools/fake-llm/main.ts --port N [--host H] [--latency ms] [--jitter ms] [--tps n]
//   [--seed s] [--api-key K]

const usage =
  'usage: node tools/fake-llm/main.ts --port N [--host H] [--latency ms] [--jitter ms] [--tps n] [--seed s] [--api-key K]';

function numberFlag(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (value.trim() === '' || !Number.isFinite(number) || number < 0) {
    console.error(`fake-llm: --${name} must be a number ≥ 0, got ${JSON.stringify(value)}`);
    console.error(usage);
    process.exit(2);
  }
  return number;
}

let values: Record<string, string | boolean | undefined>;
try {
  values = parseArgs({
    options: {
      port: { type: 'string', default: '0' },
      host: { type: 'string', default: '127.0.0.1' },
      latency: { type: 'string' },
      jitter: { type: 'string' },
      tps: { type: 'string' },
      seed: { type: 'string' },
      'api-key': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  }).values;
} catch (error) {
  console.error(`fake-llm: ${(error as Error).message}`);
  console.error(usage);
  process.exit(2);
}

if (values.help) {
  console.log(usage);
  process.exit(0);
}

const defaults: Partial<FaultOptions> = {};
const latency = numberFlag('latency', values.latency as string | undefined);
const jitter = numberFlag('jitter', values.jitter as string | undefined);
const tps = numberFlag('tps', values.tps as string | undefined);
if (latency !== undefined) defaults.latencyMs = latency;
if (jitter !== undefined) defaults.jitterMs = jitter;
if (tps !== undefined && tps > 0) defaults.tokensPerSecond = tps;
if (typeof values.seed === 'string') defaults.seed = values.seed;

const fake = await startFakeLlm({
  port: numberFlag('port', values.port as string),
  host: values.host as string,
  defaults,
  // Nobody can read the recorded requests of a CLI server; recording would only grow memory.
  record: false,
  ...(typeof values['api-key'] === 'string' && { apiKey: values['api-key'] }),
});
console.log(`fake-llm listening on ${fake.url}`);

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  await fake.close();
  process.exit(0);
}
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
