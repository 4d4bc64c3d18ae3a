import type { Clock } from './llm-clock.ts';
import { AdaptiveLimiter, type LimiterSettings, type ProviderLimiter } from './llm-limiter.ts';
import { type Permit, type ReleaseOutcome, WaiterQueue } from './llm-limiter-queue.ts';
import { RedisScript, type SharedRedis } from './llm-shared-redis.ts';

/** Idle limiter state disappears from Redis after a day. */
const STATE_TTL_MS = 86_400_000;

/** Slots asked for in one round trip at most (the waiters beyond ask in the next one). */
const MAX_BATCH = 256;

/**
 * One round trip of a server's limiter: gives back the slots its calls released, then takes as
 * many free slots as it has waiters. KEYS: slots (sorted set holder → lease expiry), state (hash).
 * ARGV: now, holder prefix, first holder number, wanted, leaseMs, cap, rpm (0 = none), ttlMs,
 * channel, released count, then per released slot: holder, outcome, retryAfterMs, generation.
 * Returns { granted (0..wanted), generation, limit, pausedUntil, slots held, wait hint ms }; the
 * granted holders are prefix..first, prefix..first+1, …
 * Expired leases (servers that died holding slots) are dropped first. The adaptive limit, the
 * 429 generation, the Retry-After pause and the token bucket are the same AIMD state as
 * `AdaptiveLimiter`, kept in one hash so every server reads and updates it atomically: a
 * success adds 1/limit, a 429 of the current generation halves the limit once and a
 * Retry-After pauses everyone. Slots freed and not taken back here are announced on the
 * channel, so other servers' waiters ask at once.
 */
const EXCHANGE = new RedisScript(`
local now = tonumber(ARGV[1])
local wanted = tonumber(ARGV[4])
local lease = tonumber(ARGV[5])
local cap = tonumber(ARGV[6])
local rpm = tonumber(ARGV[7])
local released = tonumber(ARGV[10])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local st = redis.call('HMGET', KEYS[2], 'limit', 'cap', 'gen', 'paused', 'tokens', 'refilled', 'rpm')
local limit = tonumber(st[1])
local gen = tonumber(st[3]) or 0
if limit == nil or tonumber(st[2]) ~= cap then
  limit = cap
  if st[2] then gen = gen + 1 end
end
local paused = tonumber(st[4]) or 0
for i = 0, released - 1 do
  local at = 11 + i * 4
  redis.call('ZREM', KEYS[1], ARGV[at])
  local outcome = ARGV[at + 1]
  if outcome == 'success' then
    limit = math.min(cap, limit + 1 / limit)
  elseif outcome == 'rate-limited' then
    if tonumber(ARGV[at + 3]) == gen then
      limit = math.max(1, math.floor(limit / 2))
      gen = gen + 1
    end
    local retryAfter = tonumber(ARGV[at + 2])
    if retryAfter > 0 then paused = math.max(paused, now + retryAfter) end
  end
end
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
if wanted > 0 then
  if now < paused then
    wait = paused - now
  else
    local n = math.min(wanted, math.max(0, whole - count))
    if rpm > 0 then n = math.min(n, math.floor(tokens)) end
    local first = tonumber(ARGV[3])
    for i = 0, n - 1 do
      redis.call('ZADD', KEYS[1], now + lease, ARGV[2] .. (first + i))
    end
    granted = n
    count = count + n
    if rpm > 0 then tokens = tokens - n end
    if granted < wanted then
      if count >= whole then
        local head = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
        wait = math.max(1, tonumber(head[2]) - now)
      elseif rpm > 0 and tokens < 1 then
        wait = math.ceil((1 - tokens) * 60000 / rpm)
      end
    end
  end
end
redis.call('HSET', KEYS[2], 'limit', tostring(limit), 'cap', cap, 'gen', gen, 'paused', paused,
  'tokens', tostring(tokens), 'refilled', refilled, 'rpm', rpm)
redis.call('PEXPIRE', KEYS[1], ARGV[8])
redis.call('PEXPIRE', KEYS[2], ARGV[8])
if released > 0 and count < whole then redis.call('PUBLISH', ARGV[9], '1') end
return { granted, gen, tostring(limit), paused, count, math.ceil(wait) }
`);

/** A slot given back by a call, waiting for the limiter's next round trip. */
interface Release {
  holder: string;
  outcome: ReleaseOutcome;
  retryAfterMs: number;
  generation: number;
}

/**
 * A provider's concurrency cap and requests-per-minute shared by every server of a deployment.
 * Each slot is a lease in a Redis sorted set (holder → expiry): this server renews the leases
 * it holds every third of `leaseMs`, so a server that dies holding slots gives them back when
 * its leases expire, and no one else waits longer. A freed slot is announced on a channel;
 * waiters here retry on that notice, when their wait hint passes, or every `pollMs` at most.
 * Waiters of one server are served first come, first served; across servers, whoever asks
 * first after a release wins.
 * One round trip at a time per limiter (`EXCHANGE`): the slots released since the last one go
 * back and as many as there are waiters are asked for, together — a run keeping 64 calls in
 * flight costs one round trip per handful of calls, not two per call, and its first 64 calls
 * start after one round trip instead of 64 in a row (issue #20's fill figure).
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
  /** Slots released by calls, given back with the next round trip. */
  #released: Release[] = [];
  #roundTrips = 0;
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

  /** Round trips to Redis so far (each gives back and takes any number of slots). */
  get roundTrips(): number {
    return this.#roundTrips;
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
      while (this.#queue.length > 0 || this.#released.length > 0) {
        const now = this.#clock.now();
        const wanted = Math.min(this.#queue.length, MAX_BATCH);
        const first = this.#sequence + 1;
        this.#sequence += wanted;
        const released = this.#released.splice(0);
        let reply: (string | number)[];
        this.#woken = false;
        try {
          this.#roundTrips += 1;
          reply = (await EXCHANGE.run(this.#shared.redis, this.#keys(), [
            now,
            `${this.#shared.serverId}:`,
            first,
            wanted,
            this.#shared.leaseMs,
            this.#settings.maxConcurrency,
            this.#settings.requestsPerMinute ?? 0,
            STATE_TTL_MS,
            this.#shared.channel(this.#scope),
            released.length,
            ...released.flatMap((slot) => [
              slot.holder,
              slot.outcome,
              slot.retryAfterMs,
              slot.generation,
            ]),
          ])) as (string | number)[];
          this.#shared.reportRecovery();
        } catch (error) {
          // The released leases expire on their own; until then those slots count as taken.
          this.#shared.reportFailure(error, 'limiter');
          this.#fallBack();
          return;
        }
        const [granted, generation, limit, pausedUntil, , waitMs] = reply.map(Number) as number[];
        this.#limit = limit as number;
        this.#pausedUntil = pausedUntil as number;
        for (let index = 0; index < (granted as number); index++) {
          const holder = `${this.#shared.serverId}:${first + index}`;
          this.#held.add(holder);
          this.#startRenewing();
          const permit = this.#permit(holder, generation as number);
          // If waiters left (abort, deadline) while Redis answered, the slot goes back.
          if (!this.#queue.serve(() => permit)) permit.release('neutral');
        }
        if (wanted > 0 && (granted as number) < wanted && this.#queue.length > 0) {
          if (granted === 0) this.#refusals += 1;
          await this.#sleep(Math.min(waitMs as number, this.#shared.pollMs));
        }
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
        // Given back with the next round trip: at once if none is under way, else with the
        // slots released meanwhile (and this server's waiters asking in the same trip).
        this.#released.push({ holder, outcome, retryAfterMs: retryAfterMs ?? 0, generation });
        this.#notify();
        void this.#pump();
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
