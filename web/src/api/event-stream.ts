export interface StreamHandlers {
  /** Named events (the server's `event:` field) to their handler; data is parsed JSON. */
  events: Record<string, (data: unknown, id: number) => void>;
  /** The connection is (re)open. */
  onOpen?: () => void;
  /** The connection dropped; the browser retries by itself (with Last-Event-ID). */
  onError?: (closed: boolean) => void;
}

/**
 * A Server-Sent Events subscription on our own origin (the session cookie goes along; GET
 * needs no CSRF token). `lastEventId` resumes after a snapshot the client already holds; on
 * reconnects the browser sends the Last-Event-ID header itself.
 */
export function openEventStream(url: string, handlers: StreamHandlers): () => void {
  const source = new EventSource(url, { withCredentials: true });
  for (const [type, handle] of Object.entries(handlers.events)) {
    source.addEventListener(type, (event) => {
      const message = event as MessageEvent<string>;
      let data: unknown;
      try {
        data = JSON.parse(message.data);
      } catch {
        return;
      }
      handle(data, Number(message.lastEventId) || 0);
    });
  }
  source.onopen = () => handlers.onOpen?.();
  source.onerror = () => handlers.onError?.(source.readyState === EventSource.CLOSED);
  return () => source.close();
}
