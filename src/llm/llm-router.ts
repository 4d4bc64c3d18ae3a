import { type BackoffPolicy, backoffDelayMs } from './llm-backoff.ts';
import type { ProviderBreaker } from './llm-breaker.ts';
import { type Clock, systemClock } from './llm-clock.ts';
import { LimiterTimeoutError, type Permit, type ProviderLimiter } from './llm-limiter.ts';
import {
  type FailureKind,
  type JsonSchema,
  type LlmMessage,
  type LlmParameters,
  type LlmProvider,
  type LlmToolCallPart,
  type LlmToolChoice,
  type LlmToolDefinition,
  ProviderFailure,
  type ProviderFinish,
  type ProviderKind,
  type ProviderStreamEvent,
} from './llm-provider.ts';
import { failureMessage } from './llm-sdk-mapping.ts';

/** One provider+model the router may send the call to, with its shared limiter and breaker. */
export interface RouteTarget {
  /** Provider connection id (uuid) or `env:<kind>` for one configured by environment. */
  providerRef: string;
  kind: ProviderKind;
  provider: LlmProvider;
  model: string;
  limiter: ProviderLimiter;
  breaker: ProviderBreaker;
}

export interface Timeouts {
  /** Until the first chunk of a streamed answer (or the whole non-streamed answer). */
  firstChunkMs: number;
  /** Between two chunks of a streamed answer. */
  idleMs: number;
  /** The whole call, every retry and fallback included. */
  totalMs: number;
}

export interface RouterPolicy {
  /** Attempts per target (1 = no retry). */
  maxAttempts: number;
  backoff: BackoffPolicy;
}

export interface RouteRequest {
  messages: readonly LlmMessage[];
  parameters: LlmParameters;
  outputSchema: JsonSchema | undefined;
  /** Tools the model may call (passed to the provider as they are). */
  tools?: readonly LlmToolDefinition[] | undefined;
  toolChoice?: LlmToolChoice | undefined;
  stream: boolean;
}

export interface AttemptInfo {
  /** 1-based, counted over the whole call (retries and fallbacks). */
  attempt: number;
  target: RouteTarget;
  /** 0 for the requested model, 1… for fallbacks. */
  targetIndex: number;
  startedAt: number;
}

export type AttemptStatus = 'ok' | 'error' | 'timeout' | 'aborted';

export interface AttemptOutcome {
  info: AttemptInfo;
  status: AttemptStatus;
  failure: ProviderFailure | undefined;
  finish: ProviderFinish | undefined;
  /** Visible text received in this attempt (complete on success, partial otherwise). */
  text: string;
  latencyMs: number;
  timeToFirstTokenMs: number | undefined;
  /** Any byte of answer arrived (a partial answer may have been billed). */
  responseStarted: boolean;
}

export interface RouterHooks<C> {
  /** Runs once a slot is held, before the request is sent; may throw to stop the call. */
  beforeAttempt?(info: AttemptInfo): Promise<C> | C;
  /** Runs exactly once per started attempt, however it ended. Must not throw. */
  afterAttempt?(outcome: AttemptOutcome, context: C | undefined): void;
}

export type RouterEvent =
  | { type: 'text-delta'; text: string }
  | { type: 'reasoning-delta'; text: string }
  /** A whole tool call of the current attempt (an `attempt-restart` discards it too). */
  | LlmToolCallPart
  /** The attempt that streamed the output so far failed; a new one starts: discard it. */
  | { type: 'attempt-restart'; attempt: number; reason: FailureKind }
  | { type: 'finish'; finish: ProviderFinish; text: string; outcome: AttemptOutcome };

/** The call failed for good; `failure` is the last attempt's reason. */
export class RouteFailure extends Error {
  readonly failure: ProviderFailure;
  readonly attempts: number;
  readonly target: RouteTarget | undefined;

  constructor(failure: ProviderFailure, attempts: number, target: RouteTarget | undefined) {
    super(failure.message);
    this.name = 'RouteFailure';
    this.failure = failure;
    this.attempts = attempts;
    this.target = target;
  }
}

export interface RouteOptions<C> {
  policy: RouterPolicy;
  timeouts: Timeouts;
  signal: AbortSignal | undefined;
  hooks: RouterHooks<C>;
  clock?: Clock;
}

/**
 * The one retry loop. For each target in order (the requested model, then its fallbacks):
 * skip it while its circuit is open; take a slot from its limiter; send; on a retryable
 * failure wait (full-jitter backoff, never less than Retry-After) and try again, up to
 * `maxAttempts`, then move to the next target. Final failures (400/401/403/404/422, content
 * policy, invalid output) end the call at once. The total timeout bounds everything.
 */
export async function* route<C>(
  request: RouteRequest,
  targets: readonly RouteTarget[],
  options: RouteOptions<C>,
): AsyncGenerator<RouterEvent, void, undefined> {
  const clock = options.clock ?? systemClock;
  const { policy, timeouts, signal, hooks } = options;
  const deadline = clock.now() + timeouts.totalMs;
  let attempt = 0;
  let lastFailure: ProviderFailure | undefined;
  let lastTarget: RouteTarget | undefined;
  let pendingRestart: FailureKind | undefined;

  const fail = (failure: ProviderFailure, target: RouteTarget | undefined): never => {
    throw new RouteFailure(failure, attempt, target);
  };

  for (let targetIndex = 0; targetIndex < targets.length; targetIndex++) {
    const target = targets[targetIndex] as RouteTarget;
    lastTarget = target;
    for (let tries = 1; tries <= policy.maxAttempts; tries++) {
      if (signal?.aborted) throw signal.reason;
      if (clock.now() >= deadline) {
        fail(totalTimeout(target, timeouts.totalMs), target);
      }
      const decision = await target.breaker.allow();
      if (!decision.allowed) {
        // Say why it opened: the last failure's status and the provider's own message.
        const cause = target.breaker.lastFailure;
        lastFailure = new ProviderFailure(
          'circuit-open',
          `${failureMessage(target.kind, 'circuit-open')}${cause ? `; last error: ${cause.message}` : ''}`,
          {
            retryAfterMs: decision.retryInMs,
            status: cause?.status,
            providerMessage: cause?.providerMessage,
          },
        );
        break; // next target
      }

      let permit: Permit;
      try {
        permit = await target.limiter.acquire(signal, deadline);
      } catch (error) {
        target.breaker.onNeutral(decision.probe);
        if (error instanceof LimiterTimeoutError)
          fail(totalTimeout(target, timeouts.totalMs), target);
        throw error;
      }

      attempt += 1;
      const info: AttemptInfo = { attempt, target, targetIndex, startedAt: clock.now() };
      let context: C | undefined;
      try {
        context = await hooks.beforeAttempt?.(info);
      } catch (error) {
        permit.release('neutral');
        target.breaker.onNeutral(decision.probe);
        throw error;
      }

      if (pendingRestart !== undefined) {
        yield { type: 'attempt-restart', attempt, reason: pendingRestart };
        pendingRestart = undefined;
      }

      const outcome = yield* runAttempt(request, info, {
        timeouts,
        deadline,
        signal,
        clock,
        permit,
        probe: decision.probe,
        afterAttempt: (result) => hooks.afterAttempt?.(result, context),
      });

      if (outcome.status === 'ok') {
        yield {
          type: 'finish',
          finish: outcome.finish as ProviderFinish,
          text: outcome.text,
          outcome,
        };
        return;
      }
      if (outcome.status === 'aborted') throw signal?.reason ?? outcome.failure;
      const failure = outcome.failure as ProviderFailure;
      lastFailure = failure;
      if (outcome.text !== '') pendingRestart = failure.kind;
      if (!failure.retryable) fail(failure, target);
      if (tries === policy.maxAttempts) break;

      const retryAfter = failure.retryAfterMs;
      if (retryAfter !== undefined && retryAfter > policy.backoff.maxRetryAfterMs) break;
      const delay = backoffDelayMs(policy.backoff, tries, retryAfter, () => clock.random());
      if (clock.now() + delay >= deadline) break;
      await clock.sleep(delay, signal);
    }
  }
  fail(
    lastFailure ?? new ProviderFailure('unknown', 'no provider was available for this call'),
    lastTarget,
  );
}

function totalTimeout(target: RouteTarget, totalMs: number): ProviderFailure {
  return new ProviderFailure(
    'timeout',
    `${target.kind} call exceeded the total timeout of ${totalMs} ms`,
  );
}

interface AttemptRun {
  timeouts: Timeouts;
  deadline: number;
  signal: AbortSignal | undefined;
  clock: Clock;
  permit: Permit;
  probe: boolean;
  afterAttempt: (outcome: AttemptOutcome) => void;
}

type TimeoutReason = 'first-chunk' | 'idle' | 'total';

/**
 * One attempt: sends the request on its own AbortController (linked to the caller's signal,
 * so cancelling closes the HTTP request) and watches it with one timer — first chunk, then
 * between chunks, always within the total deadline. The timer is paused while the consumer
 * holds a chunk, so a slow reader is not mistaken for a stalled provider.
 */
async function* runAttempt(
  request: RouteRequest,
  info: AttemptInfo,
  run: AttemptRun,
): AsyncGenerator<RouterEvent, AttemptOutcome, undefined> {
  const { target } = info;
  const { clock, timeouts } = run;
  const controller = new AbortController();
  const onCallerAbort = () => controller.abort(run.signal?.reason);
  run.signal?.addEventListener('abort', onCallerAbort, { once: true });

  // One timer per attempt, in real time (performance.now), re-armed only when it fires: a
  // chunk just moves `since`, so a fast stream costs no timer operations per chunk.
  let timedOut: TimeoutReason | undefined;
  let timer: NodeJS.Timeout | undefined;
  let phase: 'first-chunk' | 'idle' = 'first-chunk';
  let since = performance.now();
  let paused = false;
  let watching = true;
  const realDeadline = since + Math.max(0, run.deadline - clock.now());
  const expire = (reason: TimeoutReason) => {
    timedOut = reason;
    controller.abort(new Error(`timeout: ${reason}`));
  };
  const watch = () => {
    timer = undefined;
    if (!watching) return;
    const now = performance.now();
    if (realDeadline - now <= 1) return expire('total');
    if (paused) since = now; // the caller holds a chunk: idle time does not run
    const limit = phase === 'first-chunk' ? timeouts.firstChunkMs : timeouts.idleMs;
    const dueAt = since + limit;
    if (dueAt - now <= 1) return expire(phase);
    timer = setTimeout(watch, Math.min(dueAt, realDeadline) - now);
  };
  const stopWatching = () => {
    watching = false;
    if (timer) clearTimeout(timer);
    timer = undefined;
  };

  let iterator: AsyncIterator<ProviderStreamEvent> | undefined;
  let text = '';
  let firstTokenAt: number | undefined;
  let responseStarted = false;
  let outcome: AttemptOutcome | undefined;
  const finishWith = (
    status: AttemptStatus,
    failure: ProviderFailure | undefined,
    finish: ProviderFinish | undefined,
  ): AttemptOutcome => {
    const now = clock.now();
    return {
      info,
      status,
      failure,
      finish,
      text,
      latencyMs: now - info.startedAt,
      timeToFirstTokenMs: firstTokenAt === undefined ? undefined : firstTokenAt - info.startedAt,
      responseStarted,
    };
  };

  try {
    const providerRequest = {
      model: target.model,
      messages: request.messages,
      parameters: request.parameters,
      outputSchema: request.outputSchema,
      ...(request.tools ? { tools: request.tools } : {}),
      ...(request.toolChoice ? { toolChoice: request.toolChoice } : {}),
      signal: controller.signal,
    };
    watch();
    if (!request.stream) {
      const result = await target.provider.generate(providerRequest);
      stopWatching();
      responseStarted = true;
      firstTokenAt = clock.now();
      text = result.text;
      const { text: _text, ...rest } = result;
      const finish: ProviderFinish = { type: 'finish', ...rest };
      outcome = finishWith('ok', undefined, finish);
      if (text !== '') yield { type: 'text-delta', text };
      return outcome;
    }
    iterator = target.provider.stream(providerRequest)[Symbol.asyncIterator]();
    while (true) {
      const next: IteratorResult<ProviderStreamEvent> = await iterator.next();
      if (next.done) {
        throw new ProviderFailure('network', failureMessage(target.kind, 'network'), {
          responseStarted,
        });
      }
      const event = next.value;
      if (event.type === 'finish') {
        stopWatching();
        outcome = finishWith('ok', undefined, event);
        return outcome;
      }
      if (!responseStarted) {
        responseStarted = true;
        firstTokenAt = clock.now();
      }
      if (event.type === 'text-delta') text += event.text;
      phase = 'idle';
      paused = true;
      yield event;
      paused = false;
      since = performance.now();
    }
  } catch (error) {
    stopWatching();
    const failure =
      error instanceof ProviderFailure
        ? error
        : new ProviderFailure('unknown', failureMessage(target.kind, 'unknown'));
    if (run.signal?.aborted) {
      outcome = finishWith(
        'aborted',
        new ProviderFailure('aborted', failureMessage(target.kind, 'aborted')),
        undefined,
      );
    } else if (timedOut !== undefined) {
      const limit =
        timedOut === 'first-chunk'
          ? timeouts.firstChunkMs
          : timedOut === 'idle'
            ? timeouts.idleMs
            : timeouts.totalMs;
      const what =
        timedOut === 'first-chunk'
          ? 'sent no first chunk'
          : timedOut === 'idle'
            ? 'stalled between chunks'
            : 'exceeded the total timeout';
      outcome = finishWith(
        'timeout',
        new ProviderFailure(
          'timeout',
          `${target.kind} ${what} (${timedOut} timeout, ${limit} ms)`,
          {
            responseStarted: responseStarted || failure.responseStarted,
          },
        ),
        undefined,
      );
    } else {
      responseStarted ||= failure.responseStarted;
      outcome = finishWith('error', failure, undefined);
    }
    return outcome;
  } finally {
    stopWatching();
    run.signal?.removeEventListener('abort', onCallerAbort);
    // Closes the upstream request whatever happened, including a consumer that stopped reading.
    if (!controller.signal.aborted && outcome?.status !== 'ok') controller.abort();
    iterator?.return?.().catch(() => {});
    outcome ??= finishWith(
      'aborted',
      new ProviderFailure('aborted', failureMessage(target.kind, 'aborted')),
      undefined,
    );
    settleAttempt(outcome, run);
  }
}

function settleAttempt(outcome: AttemptOutcome, run: AttemptRun): void {
  const { target } = outcome.info;
  const failure = outcome.failure;
  if (outcome.status === 'ok') {
    run.permit.release('success');
    target.breaker.onSuccess();
  } else if (outcome.status === 'aborted' || !failure) {
    run.permit.release('neutral');
    target.breaker.onNeutral(run.probe);
  } else if (failure.kind === 'rate-limited') {
    run.permit.release('rate-limited', failure.retryAfterMs);
    // A 429 says the provider is up and busy: the limiter handles it, not the breaker.
    target.breaker.onSuccess();
  } else if (failure.kind === 'network' && failure.connectionDropped && !outcome.responseStarted) {
    // A dropped keep-alive socket says nothing about the provider: retried, not counted.
    run.permit.release('neutral');
    target.breaker.onNeutral(run.probe);
  } else if (failure.retryable) {
    run.permit.release('neutral');
    target.breaker.onFailure(failure);
  } else {
    // A 4xx answer means the provider is up.
    run.permit.release('neutral');
    target.breaker.onSuccess();
  }
  try {
    run.afterAttempt(outcome);
  } catch {
    // afterAttempt must not throw; a bug there must not turn a success into a failure.
  }
}
