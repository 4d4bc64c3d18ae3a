import type { LlmCallResult, LlmStreamEvent } from './llm-call-types.ts';

/**
 * A streamed call: iterate it for deltas (the last event is `finish`), or await `result`.
 * Errors are thrown from the iterator (and reject `result`) as AppError; a cancelled call
 * throws the signal's reason. Breaking out of the loop cancels the call.
 */
export class LlmStream implements AsyncIterable<LlmStreamEvent> {
  readonly #events: AsyncGenerator<LlmStreamEvent, void, undefined>;
  #started = false;
  #result: Promise<LlmCallResult> | undefined;
  #resolve!: (result: LlmCallResult) => void;
  #reject!: (error: unknown) => void;

  constructor(events: AsyncGenerator<LlmStreamEvent, void, undefined>) {
    this.#events = events;
  }

  #ensureResult(): Promise<LlmCallResult> {
    this.#result ??= new Promise<LlmCallResult>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    return this.#result;
  }

  // A plain iterator over the call's generator (not another generator around it): one
  // layer less of promises per streamed chunk.
  [Symbol.asyncIterator](): AsyncIterator<LlmStreamEvent> {
    if (this.#started) throw new Error('an LlmStream can be read once');
    this.#started = true;
    this.#ensureResult().catch(() => {});
    const events = this.#events;
    let settled = false;
    // Only a stream closed before its `finish` rejects `result` (no Error made otherwise).
    const closed = () => {
      if (settled) return;
      settled = true;
      this.#reject(new Error('the stream was closed before it finished'));
    };
    return {
      next: () =>
        events.next().then(
          (step) => {
            if (step.done) closed();
            else if (step.value.type === 'finish') {
              settled = true;
              this.#resolve(step.value.result);
            }
            return step;
          },
          (error: unknown) => {
            this.#reject(error);
            throw error;
          },
        ),
      return: (value?: unknown) => {
        closed();
        return events.return(value as undefined);
      },
    };
  }

  /** The final result; reads (and discards) the deltas if nobody iterates. */
  get result(): Promise<LlmCallResult> {
    const result = this.#ensureResult();
    if (!this.#started) {
      void (async () => {
        try {
          for await (const _event of this) {
            // drained
          }
        } catch {
          // surfaced through `result`
        }
      })();
    }
    return result;
  }
}
