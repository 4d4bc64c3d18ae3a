import { grouped } from '../platform/grouped.ts';
import {
  type BreakerDecision,
  type BreakerSettings,
  type BreakerState,
  CircuitBreaker,
  type ProviderBreaker,
} from './llm-breaker.ts';
import type { Clock } from './llm-clock.ts';
import { type FailureKind, ProviderFailure } from './llm-provider.ts';
import { RedisScript, type SharedRedis } from './llm-shared-redis.ts';

const STATE_TTL_MS = 86_400_000;

/**
 * KEYS: breaker hash. ARGV: now, openMs, probeLeaseMs.
 * Returns { allowed (0|1), probe (0|1) or retry-in ms, state, last failure JSON }.
 * Open until openedAt + openFor; then one probe at a time across the deployment, held as a
 * lease so a server that dies mid-probe does not keep the circuit half-open for ever.
 */
const ALLOW = new RedisScript(`
local now = tonumber(ARGV[1])
local st = redis.call('HMGET', KEYS[1], 'state', 'openedAt', 'openFor', 'probeUntil', 'last')
local last = st[5] or ''
if st[1] ~= 'open' then return { 1, 0, 'closed', last } end
local reopen = tonumber(st[2]) + tonumber(st[3])
if now < reopen then return { 0, reopen - now, 'open', last } end
if (tonumber(st[4]) or 0) <= now then
  redis.call('HSET', KEYS[1], 'probeUntil', now + tonumber(ARGV[3]))
  return { 1, 1, 'half-open', last }
end
return { 0, tonumber(ARGV[2]), 'half-open', last }
`);

/**
 * KEYS: breaker hash, recent outcomes list. ARGV: now, window, threshold, openMs, maxOpenMs,
 * ttlMs, count, then per outcome in the order they happened: outcome (success|failure|
 * probe-neutral), probe (0|1), failure JSON.
 * The same rules as `CircuitBreaker`, over outcomes every server reports; the outcomes of one
 * call are applied one after another, as if each had come in a call of its own.
 */
const RECORD = new RedisScript(`
local now = tonumber(ARGV[1])
local openMs = tonumber(ARGV[4])
local function apply(outcome, probe, failure)
  local st = redis.call('HMGET', KEYS[1], 'state', 'openedAt', 'openFor', 'failures')
  local state = st[1] or 'closed'
  local openFor = tonumber(st[3]) or openMs
  local failures = tonumber(st[4]) or 0
  local function open(duration)
    redis.call('HSET', KEYS[1], 'state', 'open', 'openedAt', now, 'openFor', duration,
      'probeUntil', 0, 'failures', 0)
    redis.call('DEL', KEYS[2])
  end
  local function push(value)
    redis.call('RPUSH', KEYS[2], value)
    if redis.call('LLEN', KEYS[2]) > tonumber(ARGV[2]) then
      if redis.call('LPOP', KEYS[2]) == '0' then failures = failures - 1 end
    end
  end
  if outcome == 'success' then
    if state ~= 'closed' then
      redis.call('DEL', KEYS[2])
      failures = 0
    end
    push('1')
    redis.call('HSET', KEYS[1], 'state', 'closed', 'openFor', openMs, 'probeUntil', 0,
      'failures', failures)
  elseif outcome == 'probe-neutral' then
    redis.call('HSET', KEYS[1], 'probeUntil', 0)
  else
    if failure ~= '' then redis.call('HSET', KEYS[1], 'last', failure) end
    local halfOpen = state == 'open' and now >= tonumber(st[2]) + openFor
    if probe == '1' or halfOpen then
      open(math.min(tonumber(ARGV[5]), openFor * 2))
    elseif state == 'closed' then
      failures = failures + 1
      push('0')
      if failures >= tonumber(ARGV[3]) and failures * 2 >= redis.call('LLEN', KEYS[2]) then
        open(openFor)
      else
        redis.call('HSET', KEYS[1], 'failures', failures)
      end
    end
  end
end
for i = 0, tonumber(ARGV[7]) - 1 do
  local at = 8 + i * 3
  apply(ARGV[at], ARGV[at + 1], ARGV[at + 2])
end
redis.call('PEXPIRE', KEYS[1], ARGV[6])
redis.call('PEXPIRE', KEYS[2], ARGV[6])
return 1
`);

/** An outcome waiting for the breaker's next report to Redis. */
interface Outcome {
  outcome: 'success' | 'failure' | 'probe-neutral';
  probe: boolean;
  failure: string;
}

interface StoredFailure {
  kind: FailureKind;
  message: string;
  status?: number | undefined;
  providerMessage?: string | undefined;
}

/**
 * A provider+model's circuit breaker that every server of a deployment shares: the outcomes
 * every server reports are weighed together, a circuit one server opens is open on all of
 * them, and only one probe at a time goes out when it half-opens. Outcomes are reported
 * without waiting (in order; those that come while a report is on its way go together in the
 * next one); `allow()` asks Redis, and the callers that ask
 * while an answer is on its way share the next one — as if they had asked one after another
 * then: a half-open circuit's one probe goes to the first of them (64 calls starting together
 * cost two round trips, not 64).
 * When Redis does not answer, this server's own `CircuitBreaker` decides until it does.
 */
export class SharedBreaker implements ProviderBreaker {
  #state: BreakerState = 'closed';
  #lastFailure: ProviderFailure | undefined;
  readonly #fallback: CircuitBreaker;
  readonly #settings: BreakerSettings;
  readonly #shared: SharedRedis;
  readonly #keys: [string, string];
  readonly #clock: Clock;
  /** Settles once the last outcome reported is in Redis (or could not be sent). */
  #reported: Promise<void> = Promise.resolve();

  constructor(
    shared: SharedRedis,
    scope: string,
    model: string,
    settings: BreakerSettings,
    clock: Clock,
  ) {
    this.#shared = shared;
    this.#settings = settings;
    this.#clock = clock;
    this.#fallback = new CircuitBreaker(settings, clock);
    const name = `breaker:${Buffer.from(model).toString('base64url')}`;
    this.#keys = [shared.key(scope, name), shared.key(scope, `${name}:recent`)];
  }

  /** As last seen by `allow()`. */
  get state(): BreakerState {
    return this.#state;
  }

  get lastFailure(): ProviderFailure | undefined {
    return this.#lastFailure ?? this.#fallback.lastFailure;
  }

  async allow(): Promise<BreakerDecision> {
    // Asked after the outcomes reported so far are in: Redis weighs them before answering.
    await this.#reported;
    let reply: (string | number)[];
    try {
      reply = await this.#ask(undefined);
    } catch (error) {
      this.#shared.reportFailure(error, 'breaker');
      return this.#fallback.allow();
    }
    const [allowed, detail, state, last] = reply;
    this.#state = state as BreakerState;
    if (last) this.#lastFailure = parseFailure(String(last));
    if (Number(allowed) === 1) return { allowed: true, probe: Number(detail) === 1 };
    return { allowed: false, retryInMs: Number(detail) };
  }

  /** One ALLOW for every caller that asked while the previous one was on its way. */
  readonly #ask = grouped(async (callers: undefined[]) => {
    const reply = (await ALLOW.run(
      this.#shared.redis,
      [this.#keys[0]],
      [this.#clock.now(), this.#settings.openMs, this.#shared.leaseMs],
    )) as (string | number)[];
    const [allowed, probe, , last] = reply;
    // Half-open: the probe is the first caller's; the others are refused as the script would
    // have refused them, asked a moment later.
    if (Number(allowed) === 1 && Number(probe) === 1)
      return callers.map((_, index) =>
        index === 0 ? reply : [0, this.#settings.openMs, 'half-open', last ?? ''],
      );
    return callers.map(() => reply);
  });

  onSuccess(): void {
    this.#fallback.onSuccess();
    this.#record('success', false, undefined);
  }

  onFailure(failure?: ProviderFailure): void {
    this.#fallback.onFailure(failure);
    // A probe's failure arrives here too: the script knows it by the circuit being half-open.
    this.#record('failure', false, failure);
  }

  onNeutral(probe: boolean): void {
    this.#fallback.onNeutral(probe);
    if (probe) this.#record('probe-neutral', true, undefined);
  }

  #record(
    outcome: 'success' | 'failure' | 'probe-neutral',
    probe: boolean,
    failure: ProviderFailure | undefined,
  ): void {
    const stored: StoredFailure | undefined = failure && {
      kind: failure.kind,
      message: failure.message,
      status: failure.status,
      providerMessage: failure.providerMessage,
    };
    this.#reported = this.#report({
      outcome,
      probe,
      failure: stored ? JSON.stringify(stored) : '',
    }).catch((error: unknown) => this.#shared.reportFailure(error, 'breaker outcome'));
  }

  /**
   * One RECORD for every outcome reported while the previous one was on its way (in order):
   * a run keeping 64 calls in flight reports a handful of outcomes per round trip, not one.
   */
  readonly #report = grouped(async (outcomes: Outcome[]) => {
    await RECORD.run(this.#shared.redis, this.#keys, [
      this.#clock.now(),
      this.#settings.window ?? 20,
      this.#settings.failureThreshold,
      this.#settings.openMs,
      this.#settings.maxOpenMs,
      STATE_TTL_MS,
      outcomes.length,
      ...outcomes.flatMap(({ outcome, probe, failure }) => [outcome, probe ? 1 : 0, failure]),
    ]);
    return outcomes.map(() => undefined);
  });
}

function parseFailure(text: string): ProviderFailure | undefined {
  try {
    const stored = JSON.parse(text) as StoredFailure;
    return new ProviderFailure(stored.kind, stored.message, {
      status: stored.status,
      providerMessage: stored.providerMessage,
    });
  } catch {
    return undefined;
  }
}
