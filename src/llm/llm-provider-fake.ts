import type { Clock } from './llm-clock.ts';
import {
  type LlmProvider,
  type ProviderCallRequest,
  ProviderFailure,
  type ProviderFinish,
  type ProviderGenerateResult,
  type ProviderKind,
  type ProviderStreamEvent,
  type TokenUsage,
} from './llm-provider.ts';

/** What the scripted provider does for one call. */
export type FakeStep =
  | { answer: string; usage?: Partial<TokenUsage>; chunkDelayMs?: number }
  | { fail: ProviderFailure; afterChunks?: string[] }
  | { hang: true; afterChunks?: string[] };

export interface FakeCall {
  request: ProviderCallRequest;
  /** Set when the request's signal aborted while the call was open. */
  aborted: boolean;
}

/**
 * A test double of the port: answers from a script (one step per call, the last step repeats)
 * and records every call. Hangs end only when the request's signal aborts.
 */
export class ScriptedProvider implements LlmProvider {
  readonly kind: ProviderKind;
  readonly calls: FakeCall[] = [];
  readonly #steps: FakeStep[];
  #index = 0;
  inFlight = 0;
  maxInFlight = 0;

  constructor(steps: FakeStep[], kind: ProviderKind = 'openai') {
    this.#steps = steps;
    this.kind = kind;
  }

  #next(): FakeStep {
    const step = this.#steps[Math.min(this.#index, this.#steps.length - 1)] as FakeStep;
    this.#index += 1;
    return step;
  }

  async *stream(request: ProviderCallRequest): AsyncIterable<ProviderStreamEvent> {
    const call: FakeCall = { request, aborted: false };
    this.calls.push(call);
    const step = this.#next();
    this.inFlight += 1;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    const onAbort = () => {
      call.aborted = true;
    };
    request.signal.addEventListener('abort', onAbort, { once: true });
    try {
      await Promise.resolve();
      if ('answer' in step) {
        for (const piece of step.answer.split(/(?<= )/)) {
          if (step.chunkDelayMs) await delay(step.chunkDelayMs, request.signal);
          throwIfAborted(request.signal, this.kind);
          yield { type: 'text-delta', text: piece };
        }
        yield finishFor(step.answer, step.usage);
        return;
      }
      for (const piece of step.afterChunks ?? []) yield { type: 'text-delta', text: piece };
      if ('fail' in step) throw step.fail;
      await delay(Number.POSITIVE_INFINITY, request.signal);
    } finally {
      this.inFlight -= 1;
      request.signal.removeEventListener('abort', onAbort);
    }
  }

  async generate(request: ProviderCallRequest): Promise<ProviderGenerateResult> {
    let text = '';
    let finish: ProviderFinish | undefined;
    for await (const event of this.stream(request)) {
      if (event.type === 'text-delta') text += event.text;
      if (event.type === 'finish') finish = event;
    }
    const { type: _type, ...rest } = finish as ProviderFinish;
    return { ...rest, text };
  }

  async listModels(): Promise<string[]> {
    return ['fake-model'];
  }
}

function finishFor(answer: string, usage: Partial<TokenUsage> = {}): ProviderFinish {
  return {
    type: 'finish',
    usage: {
      uncachedInputTokens: 10,
      cacheReadTokens: undefined,
      cacheWriteTokens: undefined,
      outputTokens: answer.split(' ').length,
      reasoningTokens: undefined,
      ...usage,
    },
    finishReason: 'stop',
    requestId: 'req_fake',
    responseModel: undefined,
    output: undefined,
    warnings: [],
    rawUsage: undefined,
  };
}

function throwIfAborted(signal: AbortSignal, kind: ProviderKind): void {
  if (signal.aborted) throw new ProviderFailure('aborted', `${kind} call was cancelled`);
}

function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const abort = () => {
      clearTimeout(timer);
      reject(new ProviderFailure('aborted', 'call was cancelled'));
    };
    const timer = Number.isFinite(ms) ? setTimeout(resolve, ms) : undefined;
    if (signal.aborted) abort();
    else signal.addEventListener('abort', abort, { once: true });
  });
}

/** A clock whose sleeps return at once and advance `now`; records every sleep. */
export class FakeClock implements Clock {
  current = 1_700_000_000_000;
  readonly sleeps: number[] = [];
  randomValue = 0.5;

  now(): number {
    return this.current;
  }

  async sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) throw signal.reason;
    this.sleeps.push(ms);
    this.current += ms;
  }

  random(): number {
    return this.randomValue;
  }

  advance(ms: number): void {
    this.current += ms;
  }
}
