import { createHash } from 'node:crypto';

/**
 * Per-request behaviour of the fake LLM server. Every field has a neutral value, so a request
 * without controls is answered promptly and correctly. See README.md for the control syntax.
 */
export interface FaultOptions {
  /** Milliseconds before the first byte (headers) is sent. */
  latencyMs: number;
  /** Uniform ± milliseconds added to `latencyMs`. */
  jitterMs: number;
  /** Makes jitter a reproducible sequence (per seed, per server). */
  seed: string | undefined;
  /** Output tokens per second while streaming; `undefined` sends everything at once. */
  tokensPerSecond: number | undefined;
  /** HTTP status to answer with instead of a completion (400–599). */
  status: number | undefined;
  /** `Retry-After` seconds sent with a 429 (default 1) or, when given, with any failure. */
  retryAfterSeconds: number | undefined;
  /** OpenAI's `retry-after-ms` header on the failure (sent beside `Retry-After`, which it overrides). */
  retryAfterMs: number | undefined;
  /** Apply the failure controls only to the first N requests that share a key. */
  failTimes: number | undefined;
  /** Groups requests for `failTimes`; defaults to the model plus the prompt text. */
  key: string | undefined;
  /** Accept the request and never answer. */
  hang: boolean;
  /** Stream N content chunks, then stall forever. */
  hangAfter: number | undefined;
  /** Stream N content chunks, then destroy the socket. */
  disconnectAfter: number | undefined;
  /** Stream N content chunks, then one chunk that is not valid JSON, then carry on. */
  malformedAfter: number | undefined;
  /** Stream N content chunks, then the provider's in-stream error event, then end. */
  errorAfter: number | undefined;
  cacheReadTokens: number;
  cacheWriteTokens: number;
  reasoningTokens: number;
  /** Fixed output text, used verbatim in every mode (so tests can force invalid JSON). */
  output: string | undefined;
  /** Use `output` only for the first N requests that share a key, then answer normally. */
  outputTimes: number | undefined;
  /** Answer with a JSON object even when the request did not ask for one. */
  json: boolean;
  /** Leave usage out of the response. */
  noUsage: boolean;
  /** The n-th request of a key answers as if its prompt ended in `#n`: a new answer each time. */
  vary: boolean;
}

export const neutralFaults: Readonly<FaultOptions> = Object.freeze({
  latencyMs: 0,
  jitterMs: 0,
  seed: undefined,
  tokensPerSecond: undefined,
  status: undefined,
  retryAfterSeconds: undefined,
  retryAfterMs: undefined,
  failTimes: undefined,
  key: undefined,
  hang: false,
  hangAfter: undefined,
  disconnectAfter: undefined,
  malformedAfter: undefined,
  errorAfter: undefined,
  cacheReadTokens: 0,
  cacheWriteTokens: 0,
  reasoningTokens: 0,
  output: undefined,
  outputTimes: undefined,
  json: false,
  noUsage: false,
  vary: false,
});

export type FaultParseResult =
  | { ok: true; baseModel: string; faults: FaultOptions }
  | { ok: false; baseModel: string; message: string };

type ControlKind = 'duration' | 'count' | 'rate' | 'status' | 'text' | 'flag';

/** Control name (as written in a model suffix or after `x-fake-`) → field and value kind. */
const controls: Record<string, { field: keyof FaultOptions; kind: ControlKind }> = {
  latency: { field: 'latencyMs', kind: 'duration' },
  jitter: { field: 'jitterMs', kind: 'duration' },
  seed: { field: 'seed', kind: 'text' },
  tps: { field: 'tokensPerSecond', kind: 'rate' },
  status: { field: 'status', kind: 'status' },
  'retry-after': { field: 'retryAfterSeconds', kind: 'count' },
  'retry-after-ms': { field: 'retryAfterMs', kind: 'count' },
  'fail-times': { field: 'failTimes', kind: 'count' },
  key: { field: 'key', kind: 'text' },
  hang: { field: 'hang', kind: 'flag' },
  'hang-after': { field: 'hangAfter', kind: 'count' },
  'disconnect-after': { field: 'disconnectAfter', kind: 'count' },
  'malformed-after': { field: 'malformedAfter', kind: 'count' },
  'error-after': { field: 'errorAfter', kind: 'count' },
  'cache-read': { field: 'cacheReadTokens', kind: 'count' },
  'cache-write': { field: 'cacheWriteTokens', kind: 'count' },
  reasoning: { field: 'reasoningTokens', kind: 'count' },
  output: { field: 'output', kind: 'text' },
  'output-times': { field: 'outputTimes', kind: 'count' },
  json: { field: 'json', kind: 'flag' },
  'no-usage': { field: 'noUsage', kind: 'flag' },
  vary: { field: 'vary', kind: 'flag' },
};

export const controlNames: readonly string[] = Object.keys(controls);

const headerPrefix = 'x-fake-';

/**
 * Splits `gpt-4o-mini@latency=200,tps=50` into the base model and its controls, reads
 * `x-fake-<control>` headers, and layers them: defaults < headers < model suffix (the most
 * specific place wins). Values are percent-decoded, so `output=a%2Cb` yields `a,b`.
 */
export function parseFaults(input: {
  model: string;
  headers: Readonly<Record<string, string | string[] | undefined>>;
  defaults?: Partial<FaultOptions>;
}): FaultParseResult {
  const at = input.model.indexOf('@');
  const baseModel = at === -1 ? input.model : input.model.slice(0, at);
  const faults: FaultOptions = { ...neutralFaults, ...input.defaults };

  for (const [name, raw] of Object.entries(input.headers)) {
    if (!name.startsWith(headerPrefix) || raw === undefined) continue;
    const value = Array.isArray(raw) ? raw[raw.length - 1] : raw;
    const problem = applyControl(faults, name.slice(headerPrefix.length), value ?? '', 'header');
    if (problem) return { ok: false, baseModel, message: problem };
  }

  if (at !== -1) {
    for (const segment of input.model.slice(at + 1).split(',')) {
      if (segment.trim() === '') continue;
      const equals = segment.indexOf('=');
      const name = (equals === -1 ? segment : segment.slice(0, equals)).trim();
      const value = equals === -1 ? undefined : segment.slice(equals + 1);
      const problem = applyControl(faults, name, value, 'suffix');
      if (problem) return { ok: false, baseModel, message: problem };
    }
  }
  return { ok: true, baseModel, faults };
}

/** Returns an error message, or undefined when the control was applied. */
function applyControl(
  faults: FaultOptions,
  name: string,
  rawValue: string | undefined,
  source: 'header' | 'suffix',
): string | undefined {
  const lower = name.toLowerCase();
  const control = Object.hasOwn(controls, lower) ? controls[lower] : undefined;
  const where = source === 'header' ? `header "${headerPrefix}${name}"` : `control "${name}"`;
  if (!control) {
    return `fake-llm: unknown ${where}; known controls: ${controlNames.join(', ')}`;
  }
  const value = rawValue === undefined ? undefined : percentDecode(rawValue);
  const parsed = parseValue(control.kind, value);
  if (parsed === invalid) {
    return `fake-llm: invalid value ${JSON.stringify(value ?? '')} for ${where} (expected ${expectations[control.kind]})`;
  }
  (faults as unknown as Record<string, unknown>)[control.field] = parsed;
  return undefined;
}

const invalid = Symbol('invalid');

const expectations: Record<ControlKind, string> = {
  duration: 'milliseconds ≥ 0',
  count: 'an integer ≥ 0',
  rate: 'a number ≥ 0',
  status: 'an HTTP status 400–599',
  text: 'a value after "="',
  flag: 'nothing, true/false or 1/0',
};

function parseValue(
  kind: ControlKind,
  value: string | undefined,
): number | string | boolean | undefined | typeof invalid {
  if (kind === 'flag') {
    if (value === undefined || value === '' || value === '1' || value === 'true') return true;
    if (value === '0' || value === 'false') return false;
    return invalid;
  }
  if (value === undefined) return invalid;
  if (kind === 'text') return value;
  const trimmed = value.trim();
  if (trimmed === '' || !/^\d+(\.\d+)?$/.test(trimmed)) return invalid;
  const number = Number(trimmed);
  switch (kind) {
    case 'duration':
      return number;
    case 'rate':
      // tps=0 means "unpaced", the same as leaving it out.
      return number === 0 ? undefined : number;
    case 'count':
      return Number.isInteger(number) ? number : invalid;
    case 'status':
      return Number.isInteger(number) && number >= 400 && number <= 599 ? number : invalid;
  }
}

function percentDecode(value: string): string {
  if (!value.includes('%')) return value;
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/** True when the request carries any control that makes it fail instead of answering. */
export function hasFailureControl(faults: FaultOptions): boolean {
  return (
    faults.status !== undefined ||
    faults.hang ||
    faults.hangAfter !== undefined ||
    faults.disconnectAfter !== undefined ||
    faults.malformedAfter !== undefined ||
    faults.errorAfter !== undefined
  );
}

/**
 * The failure controls to apply to the `attempt`-th request (1-based) of a key. With
 * `fail-times=N` attempts after the N-th are answered normally; `fail-times` without another
 * failure control means `status=500`.
 */
export function failuresForAttempt(faults: FaultOptions, attempt: number): FaultOptions {
  if (faults.failTimes === undefined) return faults;
  if (attempt > faults.failTimes) {
    return {
      ...faults,
      status: undefined,
      hang: false,
      hangAfter: undefined,
      disconnectAfter: undefined,
      malformedAfter: undefined,
      errorAfter: undefined,
    };
  }
  return hasFailureControl(faults) ? faults : { ...faults, status: 500 };
}

/** Retry-After seconds for a failure response, or undefined when none should be sent. */
export function retryAfterFor(faults: FaultOptions, status: number): number | undefined {
  if (faults.retryAfterSeconds !== undefined) return faults.retryAfterSeconds;
  return status === 429 ? 1 : undefined;
}

/** A deterministic uniform [0, 1) source (mulberry32) seeded from the sha256 of `seed`. */
export function createRandomSource(seed: string): () => number {
  let state = createHash('sha256').update(seed).digest().readUInt32LE(0);
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Latency with jitter applied: latency + uniform(−jitter, +jitter), never below zero. */
export function jitteredLatency(faults: FaultOptions, random01: () => number): number {
  if (faults.jitterMs <= 0) return faults.latencyMs;
  const offset = (random01() * 2 - 1) * faults.jitterMs;
  return Math.max(0, faults.latencyMs + offset);
}
