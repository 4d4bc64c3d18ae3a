import type { Clock } from './llm-clock.ts';
import { AdaptiveLimiter, type LimiterSettings, type ProviderLimiter } from './llm-limiter.ts';
import { type Permit, type ReleaseOutcome, WaiterQueue } from './llm-limiter-queue.ts';
import { RedisScript, type SharedRedis } from './llm-shared-redis.ts';

/** Idle limiter state disappears from Redis after a day. */
const STATE_TTL_MS = 86_400_000;

/**
 * Takes a slot if one is free. KEYS: slots (sorted set holder → lease expiry), state (hash).
 * ARGV: now, holder, leaseMs, cap, rpm (0 = none), ttlMs.
 * Returns { granted (0|1), generation, limit, pausedUntil, slots held, wait hint ms }.
 * Expired leases (servers that died holding slots) are dropped first. The adaptive limit, the
 * 429 generation, the Retry-After pause and the token bucket are the same AIMD state as
 * `AdaptiveLimiter`, kept in one hash so every server reads and updates it atomically.
 */
const ACQUIRE = new RedisScript(`
local now = tonumber(ARGV[1])
local lease = tonumber(ARGV[3])
local cap = tonumber(ARGV[4])
local rpm = tonumber(ARGV[5])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local st = redis.call('HMGET', KEYS[2], 'limit', 'cap', 'gen', 'paused', 'tokens', 'refilled', 'rpm')
local limit = tonumber(st[1])
local gen = tonumber(st[3]) or 0
if limit == nil or tonumber(st[2]) ~= cap then
  limit = cap
  if st[2] then gen = gen + 1 end
end
local paused = tonumber(st[4]) or 0
local tokens = tonumber(st[5]) or 0
local refilled = tonumber(st[6]) or now
if rpm > 0 then
  local capacity = math.max(1, math.ceil(rpm / 6))
  if tonumber(st[7]) ~= rpm then
    if st[7] == false or tonumber(st[7]) == 0 then tokens = capacity end
    tokens = math.min(tokens, capacity)
  end
  if now > refilled then
    tokens = math.min(capacity, tokens + (now - refilled) * rpm / 60000)
    refilled = now
  end
end
local count = redis.call('ZCARD', KEYS[1])
local whole = math.max(1, math.floor(limit))
local granted = 0
local wait = 0
if now < paused then
  wait = paused - now
elseif count >= whole then
  local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  wait = math.max(1, tonumber(first[2]) - now)
elseif rpm > 0 and tokens < 1 then
  wait = math.ceil((1 - tokens) * 60000 / rpm)
else
  granted = 1
  redis.call('ZADD', KEYS[1], now + lease, ARGV[2])
  count = count + 1
  if rpm > 0 then tokens = tokens - 1 end
end
redis.call('HSET', KEYS[2], 'limit', tostring(limit), 'cap', cap, 'gen', gen, 'paused', paused,
  'tokens', tostring(tokens), 'refilled', refilled, 'rpm', rpm)
redis.call('PEXPIRE', KEYS[1], ARGV[6])
redis.call('PEXPIRE', KEYS[2], ARGV[6])
return { granted, gen, tostring(limit), paused, count, math.ceil(wait) }
`);

/**
 * Gives a slot back and applies its outcome (as `AdaptiveLimiter` does): success adds 1/limit,
 * a 429 of the current generation halves the limit once and a Retry-After pauses everyone.
 * KEYS: slots, state. ARGV: now, holder, outcome, retryAfterMs, generation, cap, ttlMs, channel.
 */
const RELEASE = new RedisScript(`
local now = tonumber(ARGV[1])
local cap = tonumber(ARGV[6])
redis.call('ZREM', KEYS[1], ARGV[2])
local st = redis.call('HMGET', KEYS[2], 'limit', 'gen', 'paused')
local limit = tonumber(st[1]) or cap
local gen = tonumber(st[2]) or 0
local paused = tonumber(st[3]) or 0
if ARGV[3] == 'success' then
  limit = math.min(cap, limit + 1 / limit)
elseif ARGV[3] == 'rate-limited' then
  if tonumber(ARGV[5]) == gen then
    limit = math.max(1, math.floor(limit / 2))
    gen = gen + 1
  end
  local retryAfter = tonumber(ARGV[4])
  if retryAfter > 0 then paused = math.max(paused, now + retryAfter) end
end
redis.call('HSET', KEYS[2], 'limit', tostring(limit), 'gen', gen, 'paused', paused)
redis.call('PEXPIRE', KEYS[2], ARGV[7])
redis.call('PUBLISH', ARGV[8], '1')
return tostring(limit)
`);

/**
 * A provider's concurrency cap and requests-per-minute shared by every server of a deployment.
 * Each slot is a lease in a Redis sorted set (holder → expiry): this server renews the leases
 * it holds every third of `leaseMs`, so a server that dies holding slots gives them back when
 * its leases expire, and no one else waits longer. A freed slot is announced on a channel;
 * waiters here retry on that notice, when their wait hint passes, or every `pollMs` at most.
 * Waiters of one server are served first come, first served; across servers, whoever asks
 * first after a release wins.
 *
 * When Redis does not answer, this server falls back to its own `AdaptiveLimiter` with the same
 * settings — the provider's cap per server, and 429s still halve it (see the decision record
 * docs/decisions/2026-12-06-shared-llm-limits.md for why it fails open).
 */
export class SharedLimiter implements ProviderLimiter {
  #settings: LimiterSettings;
  #limit: number;
  #pausedUntil = 0;
  readonly #queue: WaiterQueue;
  #pumping = false;
  #wake: (() => void) | undefined;
  /** A notice came while the pump was not sleeping: its next sleep returns at once. */
  #woken = false;
  /** Holder ids of the slots this server holds, for lease renewal. */
  readonly #held = new Set<string>();
  #sequence = 0;
  #refusals = 0;
  #renewTimer: NodeJS.Timeout | undefined;
  readonly #unsubscribe: () => void;
  readonly #fallback: AdaptiveLimiter;
  readonly #shared: SharedRedis;
  readonly #scope: string;
  readonly #clock: Clock;

  constructor(shared: SharedRedis, scope: string, settings: LimiterSettings, clock: Clock) {
    this.#shared = shared;
    this.#scope = scope;
    this.#clock = clock;
    this.#settings = { ...settings };
    this.#limit = settings.maxConcurrency;
    this.#fallback = new AdaptiveLimiter(settings, clock);
    this.#queue = new WaiterQueue(clock, () => this.#notify());
    this.#unsubscribe = shared.onRelease(scope, () => this.#notify());
  }

  get limit(): number {
    return Math.max(1, Math.floor(this.#limit));
  }

  get inFlight(): number {
    return this.#held.size + this.#fallback.inFlight;
  }

  get waiting(): number {
    return this.#queue.length + this.#fallback.waiting;
  }

  get pausedUntil(): number {
    return Math.max(this.#pausedUntil, this.#fallback.pausedUntil);
  }

  get settings(): Readonly<LimiterSettings> {
    return this.#settings;
  }

  /** How often Redis said "not now" (cap reached, paused, no token) to this server. */
  get refusals(): number {
    return this.#refusals;
  }

  configure(settings: LimiterSettings): void {
    this.#settings = { ...settings };
    this.#fallback.configure(settings);
    // The shared state sees the new cap on the next acquire (the script compares it).
    this.#notify();
  }

  acquire(signal?: AbortSignal, deadline?: number): Promise<Permit> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    const permit = this.#queue.wait(signal, deadline);
    void this.#pump();
    return permit;
  }

  /** Stops renewing leases and listening (the module is closing; slots are released by calls). */
  close(): void {
    if (this.#renewTimer) clearInterval(this.#renewTimer);
    this.#renewTimer = undefined;
    this.#unsubscribe();
  }

  #keys(): [string, string] {
    return [this.#shared.key(this.#scope, 'slots'), this.#shared.key(this.#scope, 'limiter')];
  }

  async #pump(): Promise<void> {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      await this.#shared.ready();
      while (this.#queue.length > 0) {
        const now = this.#clock.now();
        const holder = `${this.#shared.serverId}:${++this.#sequence}`;
        let reply: (string | number)[];
        this.#woken = false;
        try {
          const [slots, state] = this.#keys();
          reply = (await ACQUIRE.run(
            this.#shared.redis,
            [slots, state],
            [
              now,
              holder,
              this.#shared.leaseMs,
              this.#settings.maxConcurrency,
              this.#settings.requestsPerMinute ?? 0,
              STATE_TTL_MS,
            ],
          )) as (string | number)[];
          this.#shared.reportRecovery();
        } catch (error) {
          this.#shared.reportFailure(error, 'limiter');
          this.#fallBack();
          return;
        }
        const [granted, generation, limit, pausedUntil, , waitMs] = reply.map(Number) as number[];
        this.#limit = limit as number;
        this.#pausedUntil = pausedUntil as number;
        if (granted === 1) {
          this.#held.add(holder);
          this.#startRenewing();
          const permit = this.#permit(holder, generation as number);
          // If the head left (abort, deadline) while Redis answered, the next one takes it.
          if (!this.#queue.serve(() => permit)) permit.release('neutral');
          continue;
        }
        this.#refusals += 1;
        await this.#sleep(Math.min(waitMs as number, this.#shared.pollMs));
      }
    } finally {
      this.#pumping = false;
    }
  }

  /** Waits for a release notice, a local change (abort, release) or the hint, whichever is first. */
  #notify(): void {
    if (this.#wake) this.#wake();
    else this.#woken = true;
  }

  #sleep(ms: number): Promise<void> {
    if (this.#woken) {
      this.#woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const timer = setTimeout(done, Math.max(1, ms));
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = () => {
        this.#wake = undefined;
        done();
      };
    });
  }

  /** Redis did not answer: everyone waiting now takes a slot of this server's own limiter. */
  #fallBack(): void {
    for (const waiter of this.#queue.takeAll()) {
      waiter.settle(this.#fallback.acquire(waiter.signal, waiter.deadline));
    }
  }

  #permit(holder: string, generation: number): Permit {
    let released = false;
    return {
      release: (outcome: ReleaseOutcome, retryAfterMs?: number) => {
        if (released) return;
        released = true;
        this.#held.delete(holder);
        if (outcome === 'rate-limited' && retryAfterMs !== undefined && retryAfterMs > 0) {
          this.#pausedUntil = Math.max(this.#pausedUntil, this.#clock.now() + retryAfterMs);
        }
        const [slots, state] = this.#keys();
        RELEASE.run(
          this.#shared.redis,
          [slots, state],
          [
            this.#clock.now(),
            holder,
            outcome,
            retryAfterMs ?? 0,
            generation,
            this.#settings.maxConcurrency,
            STATE_TTL_MS,
            this.#shared.channel(this.#scope),
          ],
        ).then(
          (limit) => {
            this.#limit = Number(limit);
            this.#notify();
          },
          (error: unknown) => {
            // The lease expires on its own; until then the slot counts as taken.
            this.#shared.reportFailure(error, 'limiter release');
          },
        );
      },
    };
  }

  #startRenewing(): void {
    if (this.#renewTimer) return;
    this.#renewTimer = setInterval(() => this.#renew(), Math.max(1, this.#shared.leaseMs / 3));
    this.#renewTimer.unref();
  }

  #renew(): void {
    if (this.#held.size === 0) {
      clearInterval(this.#renewTimer);
      this.#renewTimer = undefined;
      return;
    }
    const expiry = this.#clock.now() + this.#shared.leaseMs;
    const members = [...this.#held].flatMap((holder) => [expiry, holder]);
    // XX: only leases still there. One that already expired is not brought back over a slot
    // another server may have taken since; it ends with its call.
    this.#shared.redis
      .zadd(this.#keys()[0], 'XX', ...members)
      .catch((error: unknown) => this.#shared.reportFailure(error, 'lease renewal'));
  }
}
