import type { ChatMessage } from './chat-api.ts';

/**
 * Streamed text of replies, kept beside the loaded messages. A delta replaces a message's
 * text from `offset` on (offset 0 after a retried or resumed call); the server writes text
 * to the database before publishing it, so a freshly loaded message plus the deltas after
 * the page's event id never leave a gap — only overlaps, which the offset resolves.
 */
export interface Delta {
  messageId: string;
  offset: number;
  text: string;
}

export type StreamedTexts = ReadonlyMap<string, string>;

export function applyDelta(
  texts: StreamedTexts,
  loaded: readonly ChatMessage[],
  delta: Delta,
): StreamedTexts {
  const base =
    texts.get(delta.messageId) ??
    loaded.find((message) => message.id === delta.messageId)?.content ??
    '';
  // A gap cannot happen (see above); if it ever did, keep what we have until a reload.
  if (delta.offset > base.length) return texts;
  const next = new Map(texts);
  next.set(delta.messageId, base.slice(0, delta.offset) + delta.text);
  return next;
}

/** The text to show: streamed text while it is ahead of the loaded row; the row once settled. */
export function shownText(message: ChatMessage, texts: StreamedTexts): string {
  const streamed = texts.get(message.id);
  if (streamed === undefined || message.status !== 'streaming') return message.content;
  return streamed.length >= message.content.length ? streamed : message.content;
}

/** Drops streamed text of messages that have settled in a freshly loaded page. */
export function pruneSettled(texts: StreamedTexts, loaded: readonly ChatMessage[]): StreamedTexts {
  let next: Map<string, string> | undefined;
  for (const message of loaded) {
    if (message.status !== 'streaming' && texts.has(message.id)) {
      next ??= new Map(texts);
      next.delete(message.id);
    }
  }
  return next ?? texts;
}
