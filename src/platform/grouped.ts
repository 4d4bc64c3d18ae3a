/**
 * Group commit (or group read): `send` handles a group of items in one statement and answers
 * each in order. An item that comes while a group is under way waits for the next group, which
 * takes every item that came meanwhile; an item that comes alone goes at once — unless it may
 * `linger`: then it waits up to `lingerMs` for company (an item that may not linger sends the
 * group at once). So a lone caller pays one round trip as before, and many concurrent callers
 * share their round trips.
 */
/**
 * How long an item of background work (an AI column's calls: llm-call-context.ts
 * `BATCHED_FEATURES`) may wait for company: a few statements a second per kind instead of one
 * per call, at a cost no run notices.
 */
export const GROUP_LINGER_MS = 20;

export function grouped<T, R>(
  send: (items: T[]) => Promise<R[]>,
  options: { lingerMs?: number } = {},
): (item: T, linger?: boolean) => Promise<R> {
  let waiting: { item: T; resolve: (answer: R) => void; reject: (error: unknown) => void }[] = [];
  let sending = false;
  let lingering: NodeJS.Timeout | undefined;
  const drain = async () => {
    sending = true;
    while (waiting.length > 0) {
      const group = waiting;
      waiting = [];
      try {
        const answers = await send(group.map((entry) => entry.item));
        for (const [index, entry] of group.entries()) entry.resolve(answers[index]!);
      } catch (error) {
        for (const entry of group) entry.reject(error);
      }
    }
    sending = false;
  };
  return (item, linger = false) =>
    new Promise<R>((resolve, reject) => {
      waiting.push({ item, resolve, reject });
      if (sending) return;
      if (linger && options.lingerMs) {
        lingering ??= setTimeout(() => {
          lingering = undefined;
          if (!sending) void drain();
        }, options.lingerMs);
        return;
      }
      clearTimeout(lingering);
      lingering = undefined;
      void drain();
    });
}
